"""What the API, the SSE stream, webhooks and exports say about fire alerts and lookout cameras.

`AlertOut` is the one JSON shape of an alert (HTTP responses, `event: alert` of the stream, webhook
bodies); `AlertDraftIn` is what a remote worker posts to `/alerts/ingest`.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal, Self

from PIL import Image, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from shapely.geometry import Polygon, mapping, shape
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from vigie.calibration.crs import LAMBERT93, to_projected
from vigie.errors import InvalidInputError, NotFoundError
from vigie.services.fire_alerts import MAX_REASON_CHARS, NO_HEADING, AlertDraft
from vigie.services.schemas import DateTimeIn, RowId
from vigie.store.models import (
    Alert,
    AlertKind,
    AlertStatus,
    Camera,
    CameraHealth,
    CameraRole,
    CameraState,
    Site,
    SiteKind,
)

logger = logging.getLogger(__name__)

# The API serves these under /api/v1 (vigie.api.app.API_PREFIX); services cannot import the API.
FRAME_URL = "/api/v1/alerts/{alert_id}/frame.jpg"
MAX_FRAME_BYTES = 8 * 1024 * 1024
JPEG_MAGIC = b"\xff\xd8\xff"


# --- output -------------------------------------------------------------------------------------------


class LocationOut(BaseModel):
    longitude: float
    latitude: float
    x_l93: float | None = Field(description="Lambert-93 (EPSG:2154) easting, metres; null outside its area")
    y_l93: float | None = Field(description="Lambert-93 northing, metres")


class AlertEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    from_status: AlertStatus | None
    to_status: AlertStatus
    note: str | None


class AlertOut(BaseModel):
    id: int
    public_id: str
    kind: AlertKind
    status: AlertStatus
    first_seen_at: datetime
    last_seen_at: datetime
    updated_at: datetime
    site_id: int | None
    confidence: float | None
    danger_level: int | None = Field(description="Fire-danger level (1-5) of the day when the alert was made")
    location: LocationOut | None
    uncertainty: dict[str, Any] | None = Field(description="GeoJSON Polygon, lon/lat")
    bearings: list[dict[str, Any]] = Field(
        description="{camera_id, camera, azimuth_deg, left_deg, right_deg, range_m, seen_at} plus the "
        "camera's longitude, latitude and name; azimuth_deg null with a `reason` when the camera cannot give "
        "a direction (e.g. 'camera has no heading')"
    )
    cameras: list[int]
    frame_url: str | None
    frame_box: list[float] | None
    frame_size: list[int] | None = Field(description="[width, height] of the frame in pixels")
    frame_camera_id: int | None
    model_name: str
    model_version: str
    calibration_version: str | None
    events: list[AlertEventOut] | None = Field(None, description="Status history (single-alert reads)")


def frame_file(alert: Alert, *, data_dir: Path) -> Path | None:
    """The alert's stored JPEG, or None; refuses paths that leave the data directory."""
    if not alert.frame_path:
        return None
    root = data_dir.resolve()
    path = (root / alert.frame_path).resolve()
    if not path.is_relative_to(root):
        logger.warning(
            "alert %s: frame_path %r leaves the data directory; ignored", alert.id, alert.frame_path
        )
        return None
    return path if path.is_file() else None


def image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) read from the image header only; None if unreadable."""
    try:
        with Image.open(path) as image:
            return int(image.width), int(image.height)
    except (OSError, UnidentifiedImageError) as exc:
        logger.warning("frame %s unreadable: %s", path, exc)
        return None


def _location(alert: Alert) -> LocationOut | None:
    if alert.location is None:
        return None
    lon, lat = float(alert.location.x), float(alert.location.y)
    try:
        x, y = to_projected(lon, lat, LAMBERT93)
        x_l93, y_l93 = round(float(x), 2), round(float(y), 2)
    except InvalidInputError:  # outside metropolitan France: Lambert-93 is meaningless there
        x_l93 = y_l93 = None
    return LocationOut(longitude=lon, latitude=lat, x_l93=x_l93, y_l93=y_l93)


def _danger(value: str | None) -> int | None:
    return int(value) if value is not None and value.strip().isdigit() else None


def _cameras_by_id(session: Session, alerts: Iterable[Alert]) -> dict[int, Camera]:
    ids: set[int] = set()
    for alert in alerts:
        ids.update(int(b["camera_id"]) for b in alert.bearings or [] if b.get("camera_id") is not None)
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Camera).where(Camera.id.in_(ids)))}


def _bearing_out(bearing: dict[str, Any], cameras: dict[int, Camera]) -> dict[str, Any]:
    camera = cameras.get(int(bearing["camera_id"])) if bearing.get("camera_id") is not None else None
    return {
        **bearing,
        "camera": bearing.get("camera") or (camera.slug if camera else None),
        "camera_name": camera.name if camera else None,
        "longitude": camera.longitude if camera else None,
        "latitude": camera.latitude if camera else None,
    }


def alert_out(
    session: Session,
    alert: Alert,
    *,
    data_dir: Path,
    with_events: bool = False,
    cameras: dict[int, Camera] | None = None,
) -> AlertOut:
    cameras = cameras if cameras is not None else _cameras_by_id(session, [alert])
    frame = frame_file(alert, data_dir=data_dir)
    size = image_size(frame) if frame is not None else None
    return AlertOut(
        id=alert.id,
        public_id=alert.public_id,
        kind=alert.kind,
        status=alert.status,
        first_seen_at=alert.first_seen_at,
        last_seen_at=alert.last_seen_at,
        updated_at=alert.updated_at,
        site_id=alert.site_id,
        confidence=alert.confidence,
        danger_level=_danger(alert.danger_level),
        location=_location(alert),
        uncertainty=None if alert.uncertainty is None else dict(mapping(alert.uncertainty)),
        bearings=[_bearing_out(b, cameras) for b in alert.bearings or []],
        cameras=[int(c) for c in alert.cameras or []],
        frame_url=FRAME_URL.format(alert_id=alert.id) if frame is not None else None,
        frame_box=alert.frame_box,
        frame_size=list(size) if size else None,
        frame_camera_id=alert.frame_camera_id,
        model_name=alert.model_name,
        model_version=alert.model_version,
        calibration_version=alert.calibration_version,
        events=[AlertEventOut.model_validate(e) for e in alert.events] if with_events else None,
    )


def alerts_out(session: Session, alerts: Sequence[Alert], *, data_dir: Path) -> list[AlertOut]:
    cameras = _cameras_by_id(session, alerts)  # one query for the whole list
    return [alert_out(session, a, data_dir=data_dir, cameras=cameras) for a in alerts]


# --- cameras ------------------------------------------------------------------------------------------


class CameraHealthOut(BaseModel):
    state: CameraState
    last_frame_at: datetime | None
    updated_at: datetime | None
    last_error: str | None
    up: bool


class FireCameraOut(BaseModel):
    id: int
    site_id: int
    slug: str
    name: str
    longitude: float | None
    latitude: float | None
    elevation_m: float | None
    heading_deg: float | None
    hfov_deg: float | None
    enabled: bool
    health: CameraHealthOut


def fire_cameras(session: Session, *, now: datetime, stale_after_s: float = 120.0) -> list[FireCameraOut]:
    """Cameras of fire sites, and lookout cameras of other sites, with their latest health."""
    rows = session.execute(
        select(Camera, CameraHealth)
        .join(Site, Site.id == Camera.site_id)
        .outerjoin(CameraHealth, CameraHealth.camera_id == Camera.id)
        .where(or_(Site.kind == SiteKind.FIRE, Camera.role == CameraRole.LOOKOUT))
        .order_by(Camera.site_id, Camera.slug)
    )
    out = []
    for camera, health in rows:
        state = CameraState(health.state) if health is not None else CameraState.UNKNOWN
        updated = health.updated_at if health is not None else None
        up = (
            state in (CameraState.UP, CameraState.DEGRADED)
            and updated is not None
            and (now - updated).total_seconds() <= stale_after_s
        )
        out.append(
            FireCameraOut(
                id=camera.id,
                site_id=camera.site_id,
                slug=camera.slug,
                name=camera.name,
                longitude=camera.longitude,
                latitude=camera.latitude,
                elevation_m=camera.elevation_m,
                heading_deg=camera.heading_deg,
                hfov_deg=camera.hfov_deg,
                enabled=camera.enabled,
                health=CameraHealthOut(
                    state=state,
                    last_frame_at=health.last_frame_at if health is not None else None,
                    updated_at=updated,
                    last_error=health.last_error if health is not None else None,
                    up=up,
                ),
            )
        )
    return out


# --- danger level -------------------------------------------------------------------------------------


class DangerLevelOut(BaseModel):
    site_id: int | None
    day: date
    level: int = Field(ge=1, le=5)
    is_default: bool = Field(description="True when nobody set a level for that day (the default applies)")
    set_by: str | None
    set_at: datetime | None


class DangerLevelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site_id: RowId | None = Field(None, description="Null: the level of every site without its own level")
    day: date | None = Field(None, description="Default: today in the site's time zone")
    level: int = Field(ge=1, le=5, title="Fire-danger level", description="1 low … 5 extreme")


class TransitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(None, max_length=2000, description="Why (shown in the alert's history)")


# --- ingest -------------------------------------------------------------------------------------------


class LonLatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    longitude: float = Field(ge=-180, le=180)
    latitude: float = Field(ge=-90, le=90)


class BearingIn(BaseModel):
    model_config = ConfigDict(extra="allow")  # pipelines may add fields (pose, tilt...); kept as sent

    camera_id: RowId
    camera: str | None = None
    azimuth_deg: float | None = Field(
        ge=0, le=360, description="Degrees from true north; null when the camera cannot give one (see reason)"
    )
    left_deg: float | None = Field(None, ge=0, le=360)
    right_deg: float | None = Field(None, ge=0, le=360)
    range_m: float | None = Field(None, gt=0)
    seen_at: DateTimeIn | None = None
    reason: str | None = Field(
        None,
        min_length=1,
        max_length=MAX_REASON_CHARS,
        description=f"Why azimuth_deg is null, e.g. {NO_HEADING!r}",
    )

    @field_validator("seen_at")
    @classmethod
    def _aware_utc(cls, value: datetime | None) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("seen_at must carry a time zone (e.g. 2026-07-14T13:00:00Z)")
        return value.astimezone(UTC)

    @model_validator(mode="after")
    def _unknown_needs_reason(self) -> Self:
        if self.azimuth_deg is None:
            if not self.reason or not self.reason.strip():
                raise ValueError(f"azimuth_deg is null: expected a 'reason' (e.g. {NO_HEADING!r})")
            if self.left_deg is not None or self.right_deg is not None:
                raise ValueError("azimuth_deg is null: expected no left_deg/right_deg")
        return self

    def as_stored(self) -> dict[str, Any]:
        """The dict kept in `alerts.bearings` (a null azimuth is kept: it says the direction is unknown)."""
        out = self.model_dump(mode="json", exclude_none=True)
        out.setdefault("azimuth_deg", None)
        return out


class AlertDraftIn(BaseModel):
    """An AlertDraft as JSON, for workers writing through the API; the frame travels as base64 JPEG."""

    model_config = ConfigDict(extra="forbid")

    public_id: str = Field(min_length=1, max_length=36, pattern=r"^[A-Za-z0-9._:-]+$")
    site_id: RowId | None = None
    kind: AlertKind
    first_seen_at: DateTimeIn
    last_seen_at: DateTimeIn
    location: LonLatIn | None = None
    uncertainty: dict[str, Any] | None = Field(None, description="GeoJSON Polygon, lon/lat")
    bearings: list[BearingIn] = Field(default_factory=list, max_length=64)
    cameras: list[RowId] = Field(default_factory=list, max_length=64)
    confidence: float | None = Field(None, ge=0, le=1)
    danger_level: int | None = Field(None, ge=1, le=5)
    model_name: str = Field(min_length=1, max_length=100)
    model_version: str = Field(min_length=1, max_length=100)
    calibration_version: str | None = Field(None, max_length=100)
    frame_jpeg_base64: str | None = Field(None, description="The best frame, a base64 JPEG (≤ 8 MiB)")
    frame_box: list[float] | None = Field(None, min_length=4, max_length=4)
    frame_camera_id: RowId | None = None

    @field_validator("first_seen_at", "last_seen_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.utcoffset() is None:
            raise ValueError("expected a timezone-aware time (e.g. 2026-11-28T10:00:00Z)")
        return value

    @field_validator("uncertainty")
    @classmethod
    def _polygon(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        if value.get("type") != "Polygon":
            raise ValueError(f"expected a GeoJSON Polygon, got type {value.get('type')!r}")
        try:
            polygon = shape(value)
        except (ValueError, TypeError, AttributeError, IndexError) as exc:
            raise ValueError(f"not a valid GeoJSON Polygon: {exc}") from exc
        if polygon.is_empty or not polygon.is_valid:
            raise ValueError("the uncertainty polygon is empty or self-intersecting")
        return value

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.last_seen_at < self.first_seen_at:
            raise ValueError("last_seen_at is before first_seen_at")
        return self

    def frame_bytes(self) -> bytes | None:
        if self.frame_jpeg_base64 is None:
            return None
        try:
            data = base64.b64decode(self.frame_jpeg_base64, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError(f"frame_jpeg_base64: not valid base64 ({exc})") from exc
        if len(data) > MAX_FRAME_BYTES:
            raise InvalidInputError(
                f"frame_jpeg_base64: {len(data)} bytes; expected at most {MAX_FRAME_BYTES}"
            )
        if not data.startswith(JPEG_MAGIC):
            raise InvalidInputError("frame_jpeg_base64: expected a JPEG image (FF D8 FF header)")
        return data

    def to_draft(self, *, frame_path: str | None) -> AlertDraft:
        uncertainty = None if self.uncertainty is None else shape(self.uncertainty)
        assert uncertainty is None or isinstance(uncertainty, Polygon)
        return AlertDraft(
            public_id=self.public_id,
            site_id=self.site_id,
            kind=self.kind,
            first_seen_at=self.first_seen_at,
            last_seen_at=self.last_seen_at,
            model_name=self.model_name,
            model_version=self.model_version,
            location=None if self.location is None else (self.location.longitude, self.location.latitude),
            uncertainty=uncertainty,
            bearings=[b.as_stored() for b in self.bearings],
            cameras=list(self.cameras),
            confidence=self.confidence,
            danger_level=self.danger_level,
            calibration_version=self.calibration_version,
            frame_path=frame_path,
            frame_box=self.frame_box,
            frame_camera_id=self.frame_camera_id,
        )


def check_site_and_cameras(session: Session, draft: AlertDraftIn) -> None:
    """Referenced site and cameras must exist (a typo would otherwise surface as a database error)."""
    if draft.site_id is not None and session.get(Site, draft.site_id) is None:
        raise NotFoundError(f"site {draft.site_id} does not exist")
    ids = {*draft.cameras, *(b.camera_id for b in draft.bearings)}
    if draft.frame_camera_id is not None:
        ids.add(draft.frame_camera_id)
    if ids:
        found = set(session.scalars(select(Camera.id).where(Camera.id.in_(ids))))
        if missing := sorted(ids - found):
            raise NotFoundError(f"camera id(s) {missing} do not exist")


StatusAction = Literal["acknowledge", "confirm", "false-alarm", "close"]
ACTION_STATUS: dict[str, AlertStatus] = {
    "acknowledge": AlertStatus.ACKNOWLEDGED,
    "confirm": AlertStatus.CONFIRMED,
    "false-alarm": AlertStatus.FALSE_ALARM,
    "close": AlertStatus.CLOSED,
}
