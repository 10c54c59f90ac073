"""Pydantic schemas of sites and cameras, shared by the services, the HTTP API and the YAML site config.

Positions are WGS84 `longitude`/`latitude` in degrees; angles are degrees, headings clockwise from true north.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Any, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie.store.models import CameraRole, CameraState, SiteKind, WorkerStatus
from vigie.store.types import utc_instant

Slug = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[a-z0-9][a-z0-9_-]*$",
        title="Slug",
        description="Stable identifier used in URLs and config: lower-case letters, digits, '-' and '_'.",
    ),
]
Name = Annotated[str, Field(min_length=1, max_length=200, title="Name", description="Human-readable name.")]
Longitude = Annotated[float, Field(ge=-180, le=180, title="Longitude", description="WGS84 degrees, east>0.")]
Latitude = Annotated[float, Field(ge=-90, le=90, title="Latitude", description="WGS84 degrees, north > 0.")]
HeadingDeg = Annotated[
    float,
    Field(ge=0, le=360, title="Heading (°)", description="Optical axis, clockwise from true north."),
]
FovDeg = Annotated[float, Field(gt=0, le=180, title="Field of view (°)")]
TiltDeg = Annotated[float, Field(ge=-90, le=90, title="Tilt (°)", description="Up from the horizon.")]
VersionTag = Annotated[str, Field(min_length=1, max_length=100)]

# The largest values the database's integer columns hold (INTEGER / BIGINT): a larger one fails in the
# driver (a 500), so inputs are bounded to them and refused with a 422 that names the field.
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1
RowId = Annotated[int, Field(ge=1, le=INT64_MAX, description="Id of a stored row.")]


def fits_utc(value: datetime) -> datetime:
    """`value` unchanged, if it stays a datetime once converted to UTC (naive ones are for the services to
    refuse or place): `0001-01-01T00:00+01:00` would overflow there, as a 500."""
    if value.utcoffset() is not None:
        utc_instant(value)  # an InvalidInputError is a ValueError: pydantic reports it on the field
    return value


# Every datetime a request may carry: one that can be stored (as UTC).
DateTimeIn = Annotated[datetime, AfterValidator(fits_utc)]


def _check_timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise ValueError(f"timezone {value!r} is not an IANA time zone name (e.g. Europe/Paris)") from exc
    return value


def redact_uri(uri: str | None) -> str | None:
    """`uri` with any password replaced by `***` (RTSP URLs often embed credentials)."""
    if not uri:
        return uri
    try:
        parts = urlsplit(uri)
        password, port = parts.password, parts.port
    except ValueError:  # unparsable (a bad IPv6 host or port): hide whatever precedes the host
        scheme, separator, rest = uri.partition("://")
        return f"{scheme}{separator}***@{rest.rpartition('@')[2]}" if "@" in rest else uri
    if password is None:
        return uri
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literals keep their brackets
        host = f"[{host}]"
    if port is not None:
        host = f"{host}:{port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Located(_Input):
    """Adds an optional WGS84 position; longitude and latitude come together or not at all."""

    longitude: Longitude | None = None
    latitude: Latitude | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.longitude is None) != (self.latitude is None):
            raise ValueError("give both longitude and latitude, or neither")
        return self


# --- sites --------------------------------------------------------------------------------------------


class SiteCreate(_Located):
    slug: Slug
    name: Name
    kind: SiteKind = Field(title="Kind", description="Use case: fire, traffic, lapi, shoreline or mixed.")
    timezone: str = Field(
        "Europe/Paris", title="Time zone", description="IANA name; used for local-time bins and reports."
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        return _check_timezone(value)


class SiteUpdate(_Located):
    """Fields to change; omitted fields keep their value. Set `longitude`/`latitude` to null to clear."""

    slug: Slug | None = None
    name: Name | None = None
    kind: SiteKind | None = None
    timezone: str | None = Field(None, title="Time zone", description="IANA name.")

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str | None) -> str | None:
        return None if value is None else _check_timezone(value)


class SiteRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    slug: str
    name: str
    kind: SiteKind
    timezone: str
    longitude: float | None
    latitude: float | None
    created_at: datetime
    updated_at: datetime


# --- cameras ------------------------------------------------------------------------------------------


class CameraPoseIn(_Input):
    """A PTZ preset of a camera."""

    name: Slug
    heading_deg: HeadingDeg
    tilt_deg: TiltDeg | None = None
    hfov_deg: FovDeg | None = None
    calibration_version: VersionTag | None = Field(None, title="Calibration version")


class CameraPoseRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    heading_deg: float
    tilt_deg: float | None
    hfov_deg: float | None
    calibration_version: str | None


class _CameraFields(_Located):
    source_uri: str | None = Field(
        None,
        max_length=2000,
        title="Source URI",
        description="rtsp://, http(s):// snapshot URL or file path; None for upload-only cameras.",
    )

    @field_validator("source_uri")
    @classmethod
    def _parsable_uri(cls, value: str | None) -> str | None:
        # The value is not quoted back: it may hold a password.
        if value:
            try:
                urlsplit(value).port  # noqa: B018 - raises on a bad IPv6 host or a port past 65535
            except ValueError as exc:
                raise ValueError(f"not a valid URI ({exc}); expected e.g. rtsp://host:554/stream") from exc
        return value

    elevation_m: float | None = Field(
        None, ge=-500, le=9000, title="Elevation (m)", description="Height of the lens above sea level."
    )
    heading_deg: HeadingDeg | None = None
    hfov_deg: FovDeg | None = Field(None, title="Horizontal field of view (°)")
    vfov_deg: FovDeg | None = Field(None, title="Vertical field of view (°)")
    image_width: int | None = Field(None, gt=0, le=20000, title="Image width (px)")
    image_height: int | None = Field(None, gt=0, le=20000, title="Image height (px)")
    calibration_version: VersionTag | None = Field(
        None, title="Calibration version", description="Recorded on every figure derived from this geometry."
    )


class CameraCreate(_CameraFields):
    slug: Slug
    name: Name
    role: CameraRole = Field(
        title="Role", description="lookout, traffic, entry, exit, patrol, cradle, other."
    )
    enabled: bool = Field(True, title="Enabled", description="Disabled cameras are not read by workers.")
    poses: list[CameraPoseIn] = Field(default_factory=list, title="PTZ presets")

    @model_validator(mode="after")
    def _unique_pose_names(self) -> Self:
        names = [pose.name for pose in self.poses]
        if len(names) != len(set(names)):
            raise ValueError(f"pose names must be unique within a camera, got {names}")
        return self


class CameraUpdate(_CameraFields):
    """Fields to change; omitted fields keep their value. `poses`, when given, replaces presets by name."""

    slug: Slug | None = None
    name: Name | None = None
    role: CameraRole | None = None
    enabled: bool | None = None
    poses: list[CameraPoseIn] | None = None


class CameraRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site_id: int
    slug: str
    name: str
    role: CameraRole
    source_uri: str | None = Field(description="Passwords are redacted.")
    longitude: float | None
    latitude: float | None
    elevation_m: float | None
    heading_deg: float | None
    hfov_deg: float | None
    vfov_deg: float | None
    image_width: int | None
    image_height: int | None
    calibration_version: str | None
    enabled: bool
    poses: list[CameraPoseRead]
    created_at: datetime
    updated_at: datetime

    @field_validator("source_uri")
    @classmethod
    def _redact(cls, value: str | None) -> str | None:
        return redact_uri(value)


# --- health -------------------------------------------------------------------------------------------


class CameraHealthIn(_Input):
    """What a worker reports about one camera's stream; omitted fields keep their value.

    `state` and the counters cannot be null (their columns have no null): omit them to keep them. Their
    None defaults are never validated nor stored: the service applies only the fields that were sent.
    """

    state: CameraState = None  # type: ignore[assignment]
    last_frame_at: DateTimeIn | None = None
    last_error: str | None = Field(None, max_length=4000)
    reconnects: int = Field(None, ge=0, le=INT32_MAX)  # type: ignore[assignment]
    frames_read: int = Field(None, ge=0, le=INT64_MAX)  # type: ignore[assignment]
    frames_dropped: int = Field(None, ge=0, le=INT64_MAX)  # type: ignore[assignment]
    worker_id: str | None = Field(None, max_length=128)

    @field_validator("last_frame_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.utcoffset() is None:
            raise ValueError("last_frame_at must be timezone-aware (UTC)")
        return value


class WorkerHeartbeatIn(_Input):
    worker_id: str = Field(min_length=1, max_length=128)
    pipeline: str = Field(min_length=1, max_length=32)
    hostname: str = Field(min_length=1, max_length=255)
    pid: int = Field(gt=0, le=INT32_MAX)
    status: WorkerStatus = WorkerStatus.RUNNING
    details: dict[str, Any] | None = None
