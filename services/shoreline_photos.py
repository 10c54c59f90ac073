"""Citizen photos: intake (checks, quality score, capture time, storage) and processing into shorelines.

Intake refuses, with a reason code the upload page translates: `not_an_image`, `too_large`, `duplicate`
(same sha256 already received), `too_small`, `too_dark`, `blurred`, `orientation` (S-geo's
`quality.assess_quality`), and an unknown station (NotFoundError). An accepted photo is stored under
`media_dir/shoreline/<station>/` with status `pending` and a quality score in [0, 1]; the background
worker (or `process_photo_row`) turns it into a `shorelines` row (status `processed`), or sets it aside
with status `flagged` and a `reject_reason` when the photo itself is unusable (another place or framing:
registration failed; night; portrait; no water level for its time; no shoreline found, ...: nothing is
stored as a shoreline), or marks it `failed` when the cause is not the photo (the station is not set up
yet, an internal error): those are worth processing again. `flag_code` gives a stable code per reason.

Capture time, in order: EXIF DateTimeOriginal (read from the bytes, never `PIL.Image.open`), the
CoastSnap file-name convention (`<unix seconds>.<...>.jpg`), the time the uploader's device gives, else
unknown (the photo is then flagged: the water level depends on it).
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import cv2
import numpy as np
from shapely.geometry import LineString
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigie import __version__
from vigie.calibration import crs as crs_mod
from vigie.errors import ConflictError, InvalidInputError
from vigie.pipelines.shoreline.water_level import (
    DEFAULT_MAX_GAP,
    HarmonicTide,
    WaterLevelSample,
    WaterLevelSeries,
    water_level_at,
)
from vigie.services.shoreline_stations import get_station, station_geometry
from vigie.store.models import (
    PhotoStatus,
    Shoreline,
    ShorelinePhoto,
    ShorelineStation,
    ShorelineWaterLevel,
)
from vigie.store.types import utcnow
from vigie.vision.source_exif import exif_capture_time

log = logging.getLogger(__name__)

MAX_PHOTO_BYTES = 20 * 1024 * 1024
# Leading 9-10 digits then a dot: CoastSnap names photos `<unix time>.<weekday>.<...>.jpg`.
_COASTSNAP_NAME = re.compile(r"^(\d{9,10})\.")
_MAGIC = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n")


class PhotoRejected(InvalidInputError):
    """An upload refused at intake; `code` is stable (the page translates it), the message says why."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DuplicatePhoto(ConflictError):
    code = "duplicate"


def _quality_code(reason: str) -> str:
    for key, code in (
        ("too small", "too_small"),
        ("too dark", "too_dark"),
        ("blurred", "blurred"),
        ("portrait", "orientation"),
        ("landscape", "orientation"),
    ):
        if key in reason:
            return code
    return "quality"


# Stable codes of the reasons processing flags a photo for (the upload page translates them); the first
# phrase found in the reason (S-geo's `process_photo` wording) gives the code.
_FLAG_CODES = (
    ("too small", "too_small"),
    ("too dark", "too_dark"),
    ("blurred", "blurred"),
    ("portrait", "orientation"),
    ("landscape", "orientation"),
    ("missing water level", "no_water_level"),
    ("no water level", "no_water_level"),
    ("not below the camera", "water_level_datum"),
    ("registration failed", "registration"),
    ("GCPs fall inside", "framing"),
    ("camera pose RMS", "camera_pose"),
    ("no shoreline found", "no_shoreline"),
)


def flag_code(reason: str | None) -> str | None:
    """The stable code of a processing reason (None for no reason, `other` when not recognised)."""
    if not reason:
        return None
    return next((code for key, code in _FLAG_CODES if key in reason), "other")


def quality_score(mean_luma: float, laplacian_var: float) -> float:
    """0..1: sharpness (variance of Laplacian, log scale from the blur threshold to 20× it) weighted 0.7,
    exposure (distance of the mean brightness from mid-grey) 0.3."""
    from vigie.pipelines.shoreline.quality import MIN_LAPLACIAN_VAR

    sharp = float(np.clip(math.log(max(laplacian_var, 1e-6) / MIN_LAPLACIAN_VAR) / math.log(20.0), 0.0, 1.0))
    exposure = float(np.clip(1.0 - abs(mean_luma - 128.0) / 128.0, 0.0, 1.0))
    return round(0.7 * sharp + 0.3 * exposure, 3)


def capture_time(
    data: bytes, *, filename: str | None, client_time: datetime | None, timezone: str
) -> tuple[datetime | None, str | None]:
    """(capture time in UTC, where it came from) — see the module docstring for the order."""
    exif = exif_capture_time(data, ZoneInfo(timezone), name=filename or "upload")
    if exif is not None:
        return exif, "exif"
    match = _COASTSNAP_NAME.match(Path(filename or "").name)
    if match:
        return datetime.fromtimestamp(int(match.group(1)), UTC), "filename"
    if client_time is not None:
        if client_time.tzinfo is None:
            raise InvalidInputError("taken_at: expected a time with a UTC offset, e.g. 2026-05-01T10:00:00Z")
        return client_time.astimezone(UTC), "client"
    return None, None


def decode_photo(data: bytes, *, max_bytes: int = MAX_PHOTO_BYTES) -> np.ndarray:
    """A BGR image from upload bytes; PhotoRejected when too large or not a JPEG/PNG."""
    if len(data) > max_bytes:
        raise PhotoRejected(
            "too_large", f"photo of {len(data) / 1e6:.1f} MB; expected at most {max_bytes / 1e6:.0f} MB"
        )
    if not data.startswith(_MAGIC):
        raise PhotoRejected("not_an_image", "the file is not a JPEG or PNG photo")
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise PhotoRejected("not_an_image", "the file looks like a JPEG/PNG but cannot be decoded (damaged?)")
    return image


def ingest_photo(
    session: Session,
    *,
    slug: str,
    data: bytes,
    media_dir: Path,
    filename: str | None = None,
    client_time: datetime | None = None,
    max_bytes: int = MAX_PHOTO_BYTES,
) -> ShorelinePhoto:
    """Check and store one uploaded photo as `pending`.

    Raises PhotoRejected, DuplicatePhoto, or NotFoundError (unknown station)."""
    from vigie.pipelines.shoreline.quality import assess_quality

    station = get_station(session, slug=slug)
    image = decode_photo(data, max_bytes=max_bytes)
    sha = hashlib.sha256(data).hexdigest()
    existing = session.scalar(select(ShorelinePhoto.id).where(ShorelinePhoto.sha256 == sha))
    if existing is not None:
        raise DuplicatePhoto(f"this photo was already received (photo {existing}); thank you")
    ref_size = (station.setup or {}).get("reference_size")
    landscape = None if not ref_size else ref_size[0] >= ref_size[1]
    quality = assess_quality(image, expect_landscape=landscape)
    if not quality.ok:
        raise PhotoRejected(_quality_code(quality.reasons[0]), "; ".join(quality.reasons))
    timezone = (station.setup or {}).get("timezone") or "UTC"
    taken_at, time_source = capture_time(data, filename=filename, client_time=client_time, timezone=timezone)
    suffix = ".png" if data.startswith(b"\x89PNG") else ".jpg"
    relative = Path("shoreline") / station.slug / "photos" / f"{sha}{suffix}"
    target = media_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    photo = ShorelinePhoto(
        station_id=station.id,
        sha256=sha,
        taken_at=taken_at,
        path=relative.as_posix(),
        status=PhotoStatus.PENDING,
        quality={
            "width": quality.width,
            "height": quality.height,
            "mean_luma": round(quality.mean_luma, 1),
            "laplacian_var": round(quality.laplacian_var, 1),
            "score": quality_score(quality.mean_luma, quality.laplacian_var),
            "taken_at_source": time_source,
            "filename": Path(filename).name[:200] if filename else None,
        },
    )
    session.add(photo)
    session.flush()
    return photo


# --- water levels -------------------------------------------------------------------------------------


def import_water_levels(session: Session, *, slug: str, samples: list[WaterLevelSample], source: str) -> int:
    """Store levels for a station, replacing any stored at the same instants; returns how many."""
    station = get_station(session, slug=slug)
    WaterLevelSeries.from_samples(samples)  # refuses duplicates and non-finite levels
    stored = {
        row.at: row
        for row in session.scalars(
            select(ShorelineWaterLevel).where(
                ShorelineWaterLevel.station_id == station.id,
                ShorelineWaterLevel.at.in_([s.at for s in samples]),
            )
        )
    }
    for s in samples:
        row = stored.get(s.at)
        if row is None:
            session.add(ShorelineWaterLevel(station_id=station.id, at=s.at, level_m=s.level_m, source=source))
        else:
            row.level_m, row.source = s.level_m, source
    session.flush()
    return len(samples)


def level_for(
    session: Session, station: ShorelineStation, at: datetime | None, max_gap: timedelta = DEFAULT_MAX_GAP
) -> tuple[float | None, str | None]:
    """Water level at `at` from the stored series (samples within `max_gap`), else the station's tide."""
    if at is None:
        return None, None
    rows = session.execute(
        select(ShorelineWaterLevel.at, ShorelineWaterLevel.level_m).where(
            ShorelineWaterLevel.station_id == station.id,
            ShorelineWaterLevel.at >= at - max_gap,
            ShorelineWaterLevel.at <= at + max_gap,
        )
    ).all()
    series = WaterLevelSeries.from_samples([WaterLevelSample(a, v) for a, v in rows], max_gap=max_gap)
    tide = (
        None
        if not station.tide
        else HarmonicTide.from_mapping(station.tide, where=f"station {station.slug} tide")
    )
    return water_level_at(at, series=series, tide=tide)


# --- processing ---------------------------------------------------------------------------------------


@dataclass
class StationCache:
    """Prepared stations (reference keypoints take ~1-2 s), keyed by id and calibration version."""

    media_dir: Path
    _items: dict[tuple[int, str | None], Any] = field(default_factory=dict)

    def prepared(self, station: ShorelineStation) -> Any:
        from vigie.pipelines.shoreline.process import prepare_station

        key = (station.id, station.calibration_version)
        if key not in self._items:
            self._items = {k: v for k, v in self._items.items() if k[0] != station.id}
            self._items[key] = prepare_station(station_geometry(station, media_dir=self.media_dir))
        return self._items[key]


def claim_next_pending(session: Session) -> ShorelinePhoto | None:
    """The oldest pending photo, marked `accepted` (being processed) so that a second worker skips it."""
    for photo_id in session.scalars(
        select(ShorelinePhoto.id)
        .where(ShorelinePhoto.status == PhotoStatus.PENDING)
        .order_by(ShorelinePhoto.uploaded_at, ShorelinePhoto.id)
        .limit(5)
    ):
        claimed = session.execute(
            update(ShorelinePhoto)
            .where(ShorelinePhoto.id == photo_id, ShorelinePhoto.status == PhotoStatus.PENDING)
            .values(status=PhotoStatus.ACCEPTED)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount == 1:
            session.commit()
            return session.get(ShorelinePhoto, photo_id)
    return None


def _transect_distances(result: Any, n_transects: int) -> list[float | None]:
    out: list[float | None] = [None] * n_transects
    sl = result.shoreline
    for k, d in zip(sl.transect_index, sl.chainage_m, strict=True):
        out[int(k)] = round(float(d), 3)
    return out


def process_photo_row(session: Session, *, photo: ShorelinePhoto, cache: StationCache) -> ShorelinePhoto:
    """Run S-geo's `process_photo` on a stored photo and record the outcome (flushes; caller commits)."""
    from vigie.pipelines.shoreline.process import process_photo
    from vigie.pipelines.shoreline.station import read_image

    station = session.get(ShorelineStation, photo.station_id)
    assert station is not None  # the foreign key cascades
    level, level_source = level_for(session, station, photo.taken_at)
    try:
        prepared = cache.prepared(station)
    except InvalidInputError as exc:  # the station is not set up yet: the photo waits for a re-run
        photo.status, photo.reject_reason = PhotoStatus.FAILED, f"station not ready: {exc}"
        photo.processed_at = utcnow()
        session.flush()
        return photo
    image = read_image(cache.media_dir / photo.path)
    result = process_photo(image, prepared, level)
    photo.water_level_m = level
    photo.reprojection_rms_px = result.reprojection_rms_px
    photo.details = {**result.summary(), "water_level_source": level_source}
    photo.processed_at = utcnow()
    if result.status != "ok":
        # The photo itself is unusable: set aside with its reason, and no shoreline row.
        photo.status, photo.reject_reason = PhotoStatus.FLAGGED, result.reason
        if photo.taken_at is None and level is None:
            photo.reject_reason = f"capture time unknown, so no water level; {result.reason}"
        photo.details = {**photo.details, "reason_code": flag_code(result.reason)}
        session.flush()
        return photo
    geo = prepared.station
    world = geo.local_to_world(result.shoreline.xyz[:, :2])
    lon, lat = crs_mod.to_wgs84(world[:, 0], world[:, 1], geo.epsg)
    _save_plan(result, cache.media_dir, photo)
    session.add(
        Shoreline(
            photo_id=photo.id,
            station_id=station.id,
            geometry=LineString(np.column_stack([lon, lat])),
            water_level_m=level,
            point_confidence=[round(float(c), 3) for c in result.shoreline.confidence],
            method=result.method,
            model_name=result.method,
            model_version=__version__,
            calibration_version=station.calibration_version or "unknown",
            transect_distances=_transect_distances(result, len(geo.transects)),
        )
    )
    photo.status, photo.reject_reason = PhotoStatus.PROCESSED, None
    session.flush()
    return photo


def _save_plan(result: Any, media_dir: Path, photo: ShorelinePhoto) -> None:
    """The plan image (north up) beside the photo, for the station report's map."""
    plan = result.plan
    if plan is None:
        return
    relative = Path(photo.path).with_suffix(".plan.png")
    cv2.imwrite(str(media_dir / relative), plan.image)
    photo.details = {**(photo.details or {}), "plan_path": relative.as_posix()}


def reprocess(session: Session, *, slug: str) -> int:
    """Put every failed, flagged or processed photo of a station back to `pending` (after a geometry or
    water-level fix)."""
    station = get_station(session, slug=slug)
    result = session.execute(
        update(ShorelinePhoto)
        .where(
            ShorelinePhoto.station_id == station.id,
            ShorelinePhoto.status.in_([PhotoStatus.FAILED, PhotoStatus.FLAGGED, PhotoStatus.PROCESSED]),
        )
        .values(status=PhotoStatus.PENDING)
        .execution_options(synchronize_session=False)
    )
    session.execute(Shoreline.__table__.delete().where(Shoreline.station_id == station.id))
    session.flush()
    return int(result.rowcount or 0)
