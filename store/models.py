"""SQLAlchemy 2 models of the shared store (PostgreSQL + PostGIS, or an embedded SQLite file).

Conventions:
- geometry is shapely in EPSG:4326 (`GeometryType`), validated when assigned;
- every timestamp is an aware UTC datetime (`UTCDateTime`), naive datetimes are refused when assigned;
- every row holding a figure produced by a model records `model_name`, `model_version`, and
  `calibration_version` where its geometry comes from a calibration, plus `created_at`;
- enumerations are stored as short strings with a CHECK constraint (no native PostgreSQL enums, so adding a
  value never needs an ALTER TYPE);
- foreign keys cascade in the database (`ondelete`), so bulk deletes behave like ORM deletes.
"""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from shapely.geometry.base import BaseGeometry
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vigie.store.geometry import GeometryType, spatial_index, validate_wgs84
from vigie.store.types import JSONType, UTCDateTime, ensure_utc, utcnow

# Deterministic constraint names, so that later migrations (and SQLite batch mode) can address them.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Auto-incrementing 64-bit ids; SQLite only auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


# --- enumerations -------------------------------------------------------------------------------------


class SiteKind(enum.StrEnum):
    FIRE = "fire"
    TRAFFIC = "traffic"
    LAPI = "lapi"
    SHORELINE = "shoreline"
    MIXED = "mixed"


class CameraRole(enum.StrEnum):
    LOOKOUT = "lookout"
    TRAFFIC = "traffic"
    ENTRY = "entry"
    EXIT = "exit"
    PATROL = "patrol"
    CRADLE = "cradle"
    OTHER = "other"


class CameraState(enum.StrEnum):
    UNKNOWN = "unknown"
    STARTING = "starting"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    DISABLED = "disabled"
    ENDED = "ended"  # a finite source (file, image folder) delivered its last frame: finished, not broken


class WorkerStatus(enum.StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    FAILED = "failed"


class AlertKind(enum.StrEnum):
    SMOKE = "smoke"
    FIRE = "fire"


class AlertStatus(enum.StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    CONFIRMED = "confirmed"
    FALSE_ALARM = "false_alarm"
    CLOSED = "closed"


class PlateFormat(enum.StrEnum):
    SIV = "siv"  # AA-123-AA, since 2009
    FNI = "fni"  # 1234 AB 56, before 2009
    FOREIGN = "foreign"
    UNKNOWN = "unknown"


class ParkingStatus(enum.StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    FLAGGED = "flagged"


class PhotoStatus(enum.StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"  # claimed by a worker, being processed
    REJECTED = "rejected"
    PROCESSED = "processed"
    FAILED = "failed"  # an internal error or a station not set up: the photo may be processed again
    FLAGGED = "flagged"  # processing set the photo aside for a reason of its own (`reject_reason`)


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    """A VARCHAR(32) + CHECK column storing the enum's values (not its member names)."""
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


# --- mixins -------------------------------------------------------------------------------------------


class CreatedAt:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Timestamps(CreatedAt):
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ModelProvenance:
    """Which model produced the figures of a row."""

    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))


class LonLat:
    """`longitude`/`latitude` (WGS84 degrees) read from the `location` Point, for schemas and exports."""

    if TYPE_CHECKING:  # the column itself is declared by each model
        location: BaseGeometry | None

    @property
    def longitude(self) -> float | None:
        return None if self.location is None else self.location.x

    @property
    def latitude(self) -> float | None:
        return None if self.location is None else self.location.y


class BoxPx:
    """An axis-aligned box in pixels of the full frame (x to the right, y down)."""

    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)


# --- sites and cameras --------------------------------------------------------------------------------


class Site(LonLat, Timestamps, Base):
    __tablename__ = "sites"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SiteKind] = mapped_column(_enum(SiteKind, "kind"))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    location: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))

    cameras: Mapped[list[Camera]] = relationship(
        back_populates="site", cascade="all, delete-orphan", passive_deletes=True, order_by="Camera.id"
    )

    __table_args__ = (spatial_index("ix_sites_location", "location"),)


class Camera(LonLat, Timestamps, Base):
    __tablename__ = "cameras"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[CameraRole] = mapped_column(_enum(CameraRole, "role"))
    source_uri: Mapped[str | None] = mapped_column(Text)
    location: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    elevation_m: Mapped[float | None] = mapped_column(Float)
    heading_deg: Mapped[float | None] = mapped_column(Float)  # clockwise from true north; None = unknown
    hfov_deg: Mapped[float | None] = mapped_column(Float)
    vfov_deg: Mapped[float | None] = mapped_column(Float)
    image_width: Mapped[int | None] = mapped_column(Integer)
    image_height: Mapped[int | None] = mapped_column(Integer)
    calibration_version: Mapped[str | None] = mapped_column(String(100))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)

    site: Mapped[Site] = relationship(back_populates="cameras")
    poses: Mapped[list[CameraPose]] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True, order_by="CameraPose.id"
    )
    health: Mapped[CameraHealth | None] = relationship(
        back_populates="camera", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (
        UniqueConstraint("site_id", "slug"),
        CheckConstraint("heading_deg >= 0 AND heading_deg <= 360", name="heading_range"),
        CheckConstraint("hfov_deg > 0 AND hfov_deg <= 180", name="hfov_range"),
        CheckConstraint("vfov_deg > 0 AND vfov_deg <= 180", name="vfov_range"),
        CheckConstraint("image_width > 0 AND image_height > 0", name="image_size_positive"),
        spatial_index("ix_cameras_location", "location"),
    )


class CameraPose(Timestamps, Base):
    """A PTZ preset: where the camera looks when it is at this preset."""

    __tablename__ = "camera_poses"

    id: Mapped[int] = mapped_column(primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    heading_deg: Mapped[float] = mapped_column(Float)
    tilt_deg: Mapped[float | None] = mapped_column(Float)  # positive up from the horizon
    hfov_deg: Mapped[float | None] = mapped_column(Float)
    calibration_version: Mapped[str | None] = mapped_column(String(100))

    camera: Mapped[Camera] = relationship(back_populates="poses")

    __table_args__ = (
        UniqueConstraint("camera_id", "name"),
        CheckConstraint("heading_deg >= 0 AND heading_deg <= 360", name="heading_range"),
        CheckConstraint("tilt_deg >= -90 AND tilt_deg <= 90", name="tilt_range"),
        CheckConstraint("hfov_deg > 0 AND hfov_deg <= 180", name="hfov_range"),
    )


class CameraHealth(Base):
    """Latest known state of a camera's stream, written by the worker that reads it."""

    __tablename__ = "camera_health"

    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"), primary_key=True)
    state: Mapped[CameraState] = mapped_column(_enum(CameraState, "state"), default=CameraState.UNKNOWN)
    last_frame_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
    frames_read: Mapped[int] = mapped_column(BigInteger, default=0)
    frames_dropped: Mapped[int] = mapped_column(BigInteger, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    camera: Mapped[Camera] = relationship(back_populates="health")


class WorkerHealth(Base):
    """Heartbeat of one pipeline worker process."""

    __tablename__ = "worker_health"

    worker_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    pipeline: Mapped[str] = mapped_column(String(32))
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[WorkerStatus] = mapped_column(_enum(WorkerStatus, "status"))
    details: Mapped[dict[str, Any] | None]


# --- fire ---------------------------------------------------------------------------------------------


class Alert(Timestamps, Base):
    """A smoke/fire event, possibly seen by several cameras; `location` is triangulated when possible."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(36), unique=True, default=lambda: str(uuid.uuid4()))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"), index=True)
    kind: Mapped[AlertKind] = mapped_column(_enum(AlertKind, "kind"))
    status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus, "status"), default=AlertStatus.NEW)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    location: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    uncertainty: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POLYGON"))
    bearings: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # [{camera_id, azimuth_deg, ...}]
    cameras: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # camera ids that saw it
    confidence: Mapped[float | None] = mapped_column(Float)
    danger_level: Mapped[str | None] = mapped_column(String(32))
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str] = mapped_column(String(100))
    calibration_version: Mapped[str | None] = mapped_column(String(100))
    # The best frame (JPEG under the data directory) and the box in it, shown to operators and exported,
    # once labelled, as training data.
    frame_path: Mapped[str | None] = mapped_column(Text)
    frame_box: Mapped[list[float] | None] = mapped_column(JSONType)  # [x1, y1, x2, y2] pixels
    frame_camera_id: Mapped[int | None] = mapped_column(ForeignKey("cameras.id", ondelete="SET NULL"))

    events: Mapped[list[AlertEvent]] = relationship(
        back_populates="alert", cascade="all, delete-orphan", passive_deletes=True, order_by="AlertEvent.id"
    )

    __table_args__ = (
        Index("ix_alerts_status_last_seen_at", "status", "last_seen_at"),
        CheckConstraint("last_seen_at >= first_seen_at", name="seen_order"),
        spatial_index("ix_alerts_location", "location"),
        spatial_index("ix_alerts_uncertainty", "uncertainty"),
    )


class AlertEvent(Base):
    """One status change of an alert (who, when, why): the alert's audit trail."""

    __tablename__ = "alert_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    from_status: Mapped[AlertStatus | None] = mapped_column(_enum(AlertStatus, "from_status"))
    to_status: Mapped[AlertStatus] = mapped_column(_enum(AlertStatus, "to_status"))
    note: Mapped[str | None] = mapped_column(Text)

    alert: Mapped[Alert] = relationship(back_populates="events")

    __table_args__ = (Index("ix_alert_events_alert_id_at", "alert_id", "at"),)


class FireDangerLevel(Base):
    """The fire-danger level (1 low – 5 extreme) set by the watch room for a day; tunes confirmation."""

    __tablename__ = "fire_danger_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    set_by: Mapped[str] = mapped_column(String(128))
    set_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("site_id", "day"),
        # NULL site ids never collide in the constraint above: this partial index allows one all-sites
        # (site_id NULL) level per day.
        Index(
            "uq_fire_danger_levels_day_all_sites",
            "day",
            unique=True,
            sqlite_where=text("site_id IS NULL"),
            postgresql_where=text("site_id IS NULL"),
        ),
        CheckConstraint("level >= 1 AND level <= 5", name="level_range"),
    )


class Detection(CreatedAt, ModelProvenance, BoxPx, Base):
    __tablename__ = "detections"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    pose_id: Mapped[int | None] = mapped_column(ForeignKey("camera_poses.id", ondelete="SET NULL"))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"), index=True)
    captured_at: Mapped[datetime]
    pipeline: Mapped[str] = mapped_column(String(32))
    class_name: Mapped[str] = mapped_column(String(64))
    confidence: Mapped[float] = mapped_column(Float)
    tracker_id: Mapped[int | None] = mapped_column(Integer)
    azimuth_deg: Mapped[float | None] = mapped_column(Float)
    data: Mapped[dict[str, Any] | None]
    calibration_version: Mapped[str | None] = mapped_column(String(100))

    __table_args__ = (
        Index("ix_detections_camera_id_captured_at", "camera_id", "captured_at"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
        CheckConstraint("x2 >= x1 AND y2 >= y1", name="box_order"),
    )


# --- traffic ------------------------------------------------------------------------------------------


class CountBin(Timestamps, ModelProvenance, Base):
    """Crossings of one counting line, in one direction, by one class, over one period.

    Written with an upsert on the unique key (see `vigie.store.upsert`), so a re-run replaces the count.
    """

    __tablename__ = "count_bins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    line: Mapped[str] = mapped_column(String(64))
    direction: Mapped[str] = mapped_column(String(32))
    class_name: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)  # the period was not fully observed
    # Seconds of the period the camera was actually watched, and the last frame time (UTC) counted in it:
    # a restarted worker continues a bin watched up to before its first frame and replaces one it is
    # re-processing (a replayed file).
    observed_s: Mapped[float | None] = mapped_column(Float)
    observed_until: Mapped[datetime | None]
    # Mean speed of the counted crossings that had a speed (road-plane homography configured), and how many.
    mean_speed_kmh: Mapped[float | None] = mapped_column(Float)
    speed_samples: Mapped[int | None] = mapped_column(Integer)

    __table_args__ = (
        UniqueConstraint("camera_id", "line", "direction", "class_name", "period_start"),
        Index("ix_count_bins_site_id_period_start", "site_id", "period_start"),
        CheckConstraint("count >= 0", name="count_positive"),
        CheckConstraint("period_end > period_start", name="period_order"),
    )


class ZoneBin(Timestamps, ModelProvenance, Base):
    """Entries, occupancy and dwell time of one class in one zone over one period (upserted like CountBin).

    `mean_occupancy` is time-weighted over the `observed_s` seconds watched; dwell figures come from the
    `dwell_samples` tracks that left the zone in the period (None when none left).
    """

    __tablename__ = "zone_bins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    zone: Mapped[str] = mapped_column(String(64))
    class_name: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    entries: Mapped[int] = mapped_column(Integer)
    mean_occupancy: Mapped[float | None] = mapped_column(Float)
    max_occupancy: Mapped[int] = mapped_column(Integer)
    dwell_samples: Mapped[int] = mapped_column(Integer)
    mean_dwell_s: Mapped[float | None] = mapped_column(Float)
    median_dwell_s: Mapped[float | None] = mapped_column(Float)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_s: Mapped[float | None] = mapped_column(Float)
    observed_until: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("camera_id", "zone", "class_name", "period_start"),
        Index("ix_zone_bins_site_id_period_start", "site_id", "period_start"),
        CheckConstraint("entries >= 0 AND max_occupancy >= 0 AND dwell_samples >= 0", name="counts_positive"),
        CheckConstraint("period_end > period_start", name="period_order"),
    )


class ODBin(Timestamps, ModelProvenance, Base):
    """Trips of one class from one counting line (first crossed) to another (last crossed) over one period,
    binned by the time of the last crossing; upserted like CountBin."""

    __tablename__ = "od_bins"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    origin: Mapped[str] = mapped_column(String(64))
    destination: Mapped[str] = mapped_column(String(64))
    class_name: Mapped[str] = mapped_column(String(64))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    observed_s: Mapped[float | None] = mapped_column(Float)
    observed_until: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("camera_id", "origin", "destination", "class_name", "period_start"),
        Index("ix_od_bins_site_id_period_start", "site_id", "period_start"),
        CheckConstraint("count >= 0", name="count_positive"),
        CheckConstraint("period_end > period_start", name="period_order"),
    )


# --- licence plates (LAPI) ----------------------------------------------------------------------------


class PlateRead(CreatedAt, ModelProvenance, BoxPx, Base):
    """One plate read (one vehicle passage). `plate_hash` is an HMAC of the normalised plate.

    Clear text (`plate_text`, `raw_texts`) only where the car park's policy allows it, and purged by
    `vigie lapi purge`; no vehicle image is ever stored with a read.
    """

    __tablename__ = "plate_reads"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    camera_id: Mapped[int] = mapped_column(ForeignKey("cameras.id", ondelete="CASCADE"))
    read_at: Mapped[datetime]
    plate_hash: Mapped[str] = mapped_column(String(64))
    plate_text: Mapped[str | None] = mapped_column(String(16))
    plate_format: Mapped[PlateFormat] = mapped_column(_enum(PlateFormat, "plate_format"))
    confidence: Mapped[float] = mapped_column(Float)
    track_id: Mapped[int | None] = mapped_column(Integer)
    # model_name/model_version: the plate detector; these: the text recogniser.
    ocr_model_name: Mapped[str | None] = mapped_column(String(100))
    ocr_model_version: Mapped[str | None] = mapped_column(String(100))
    # The car park and role (entry, exit, patrol) of the camera when it read the plate; SET NULL so that
    # deleting a car park keeps the reads until their retention ends.
    car_park_id: Mapped[int | None] = mapped_column(ForeignKey("car_parks.id", ondelete="SET NULL"))
    role: Mapped[CameraRole | None] = mapped_column(_enum(CameraRole, "role"))
    subscriber: Mapped[bool | None] = mapped_column(Boolean)  # a valid subscription at read time
    raw_texts: Mapped[list[Any] | None] = mapped_column(JSONType)  # OCR texts voted on; clear text too

    __table_args__ = (
        Index("ix_plate_reads_camera_id_read_at", "camera_id", "read_at"),
        Index("ix_plate_reads_plate_hash_read_at", "plate_hash", "read_at"),
        Index("ix_plate_reads_car_park_id_read_at", "car_park_id", "read_at"),
        CheckConstraint("confidence >= 0 AND confidence <= 1", name="confidence_range"),
    )


class ParkingSession(Timestamps, Base):
    """A vehicle's stay in a car park: an entry read, then (once matched) an exit read.

    `plate_hash` is cleared (anonymised) by the purge once the session is closed and paid, or after the
    car park's retention; the times and duration stay for occupancy statistics.
    """

    __tablename__ = "parking_sessions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    # Always set by the lapi services; nullable for sessions stored without a car park (older rows, tests).
    car_park_id: Mapped[int | None] = mapped_column(ForeignKey("car_parks.id", ondelete="CASCADE"))
    plate_hash: Mapped[str | None] = mapped_column(String(64))
    # SET NULL: purging plate reads (retention) must not erase the session statistics.
    entry_read_id: Mapped[int | None] = mapped_column(ForeignKey("plate_reads.id", ondelete="SET NULL"))
    exit_read_id: Mapped[int | None] = mapped_column(ForeignKey("plate_reads.id", ondelete="SET NULL"))
    entry_at: Mapped[datetime]
    exit_at: Mapped[datetime | None]
    duration_s: Mapped[float | None] = mapped_column(Float)
    status: Mapped[ParkingStatus] = mapped_column(_enum(ParkingStatus, "status"), default=ParkingStatus.OPEN)
    flag_reason: Mapped[str | None] = mapped_column(String(200))
    subscriber: Mapped[bool] = mapped_column(Boolean, default=False)
    paid: Mapped[bool] = mapped_column(Boolean, default=False)

    __table_args__ = (
        Index("ix_parking_sessions_site_id_plate_hash_status", "site_id", "plate_hash", "status"),
        Index("ix_parking_sessions_site_id_entry_at", "site_id", "entry_at"),
        Index("ix_parking_sessions_car_park_id_plate_hash_status", "car_park_id", "plate_hash", "status"),
        Index("ix_parking_sessions_car_park_id_entry_at", "car_park_id", "entry_at"),
        CheckConstraint("exit_at IS NULL OR exit_at >= entry_at", name="exit_after_entry"),
    )


class CarPark(Timestamps, Base):
    """A car park of a site with its capacity and its GDPR policy (clear text, retention)."""

    __tablename__ = "car_parks"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    capacity: Mapped[int | None] = mapped_column(Integer)
    # An open session older than this is flagged (entry without exit); None = never flagged.
    overstay_after_s: Mapped[float | None] = mapped_column(Float)
    store_clear_text: Mapped[bool] = mapped_column(Boolean, default=False)
    retention_days: Mapped[int] = mapped_column(Integer, default=7)  # at most this long, whatever the state
    purge_when_paid: Mapped[bool] = mapped_column(Boolean, default=True)
    exit_means_paid: Mapped[bool] = mapped_column(Boolean, default=False)  # barrier opens only once paid

    __table_args__ = (
        UniqueConstraint("site_id", "slug"),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity_positive"),
        CheckConstraint("overstay_after_s IS NULL OR overstay_after_s > 0", name="overstay_positive"),
        CheckConstraint("retention_days >= 0", name="retention_positive"),
    )


class ParkingSubscriber(Timestamps, Base):
    """A subscription of a plate to a car park over a validity period (`valid_to` None = open-ended)."""

    __tablename__ = "parking_subscribers"

    id: Mapped[int] = mapped_column(primary_key=True)
    car_park_id: Mapped[int] = mapped_column(ForeignKey("car_parks.id", ondelete="CASCADE"))
    plate_hash: Mapped[str] = mapped_column(String(64))
    plate_text: Mapped[str | None] = mapped_column(String(16))  # only where the car park stores clear text
    plate_format: Mapped[PlateFormat] = mapped_column(_enum(PlateFormat, "plate_format"))
    valid_from: Mapped[datetime]
    valid_to: Mapped[datetime | None]
    reference: Mapped[str | None] = mapped_column(String(100))  # contract number, never a person's name

    __table_args__ = (
        Index("ix_parking_subscribers_car_park_id_plate_hash", "car_park_id", "plate_hash"),
        CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="validity_order"),
    )


# --- shoreline ----------------------------------------------------------------------------------------


class ShorelineStation(LonLat, Timestamps, Base):
    """A fixed photo point (cradle) with its ground control points and transects in `epsg` coordinates."""

    __tablename__ = "shoreline_stations"

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    slug: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    location: Mapped[BaseGeometry | None] = mapped_column(GeometryType("POINT"))
    epsg: Mapped[int] = mapped_column(Integer, default=2154)  # CRS of gcps/transects (Lambert-93)
    gcps: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    transects: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    reference_image_path: Mapped[str | None] = mapped_column(String(500))
    calibration_version: Mapped[str | None] = mapped_column(String(100))
    # Local frame origin [x, y] in `epsg`, camera guess, plan grid, timezone (services/shoreline_stations).
    setup: Mapped[dict[str, Any] | None]
    stable_mask_path: Mapped[str | None] = mapped_column(String(500))
    # Harmonic tide constituents, used when no measured water level covers a photo's time.
    tide: Mapped[dict[str, Any] | None]

    photos: Mapped[list[ShorelinePhoto]] = relationship(
        back_populates="station", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (UniqueConstraint("site_id", "slug"),)


class ShorelinePhoto(Base):
    __tablename__ = "shoreline_photos"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("shoreline_stations.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    taken_at: Mapped[datetime | None]  # from EXIF or the uploader; None when unknown
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[PhotoStatus] = mapped_column(_enum(PhotoStatus, "status"), default=PhotoStatus.PENDING)
    quality: Mapped[dict[str, Any] | None]
    reprojection_rms_px: Mapped[float | None] = mapped_column(Float)
    water_level_m: Mapped[float | None] = mapped_column(Float)
    reject_reason: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]  # the processing summary (registration, camera, shoreline)
    processed_at: Mapped[datetime | None]

    station: Mapped[ShorelineStation] = relationship(back_populates="photos")
    shorelines: Mapped[list[Shoreline]] = relationship(
        back_populates="photo", cascade="all, delete-orphan", passive_deletes=True
    )

    __table_args__ = (Index("ix_shoreline_photos_station_id_taken_at", "station_id", "taken_at"),)


class Shoreline(CreatedAt, ModelProvenance, Base):
    __tablename__ = "shorelines"

    id: Mapped[int] = mapped_column(primary_key=True)
    photo_id: Mapped[int] = mapped_column(ForeignKey("shoreline_photos.id", ondelete="CASCADE"), index=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("shoreline_stations.id", ondelete="CASCADE"))
    geometry: Mapped[BaseGeometry] = mapped_column(GeometryType("LINESTRING"))
    water_level_m: Mapped[float | None] = mapped_column(Float)
    point_confidence: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # one value per vertex
    method: Mapped[str] = mapped_column(String(64))
    calibration_version: Mapped[str] = mapped_column(String(100))
    # Distance (m) from each station transect's origin, seaward, where this shoreline crosses it (None: no
    # crossing): the input of the change analysis, kept so reports need no geometry work.
    transect_distances: Mapped[list[Any] | None]

    photo: Mapped[ShorelinePhoto] = relationship(back_populates="shorelines")

    __table_args__ = (
        Index("ix_shorelines_station_id_created_at", "station_id", "created_at"),
        spatial_index("ix_shorelines_geometry", "geometry"),
    )


class ShorelineWaterLevel(Base):
    """A measured or predicted water level (m, the station's vertical datum) at one instant."""

    __tablename__ = "shoreline_water_levels"

    id: Mapped[int] = mapped_column(primary_key=True)
    station_id: Mapped[int] = mapped_column(ForeignKey("shoreline_stations.id", ondelete="CASCADE"))
    at: Mapped[datetime]
    level_m: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(100))

    __table_args__ = (UniqueConstraint("station_id", "at"),)


class RateLimitHit(Base):
    """One attempt counted by a rate limit shared by every API process (services/rate_limits).

    `scope` names the limit (`shoreline-upload`); `key` is an HMAC of the client address, never the
    address itself. Rows older than the limit's window are pruned as the limit is used."""

    __tablename__ = "rate_limit_hits"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_rate_limit_hits_scope_key_at", "scope", "key", "at"),  # the count in the window
        Index("ix_rate_limit_hits_scope_at", "scope", "at"),  # pruning
    )


# --- access and audit ---------------------------------------------------------------------------------


class SpentStreamTicket(Base):
    """A fire stream ticket already used (its random nonce), kept until the ticket expires, so that a ticket
    opens one stream across every API process (api/routes_fire)."""

    __tablename__ = "spent_stream_tickets"

    nonce: Mapped[str] = mapped_column(String(32), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)  # pruning


class ApiToken(Base):
    """An API token; only its HMAC is stored, the clear token is shown once at creation."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    roles: Mapped[list[Any]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AuditLog(Base):
    """Who did what to which object and why (GDPR: every access to plate data is logged here)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    object: Mapped[str] = mapped_column(String(200), index=True)
    purpose: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any] | None]


# --- validation on assignment -------------------------------------------------------------------------
# Type processors also validate, but errors raised while binding reach callers wrapped in SQLAlchemy's
# StatementError at flush time; validating on assignment raises the domain error where the bad value is set.


def _install_validators() -> None:
    for mapper in Base.registry.mappers:
        for key, column in mapper.columns.items():
            attribute = getattr(mapper.class_, key)
            what = f"{mapper.class_.__tablename__}.{key}"
            if isinstance(column.type, GeometryType):
                geometry_type = column.type.geometry_type

                def check_geometry(target, value, oldvalue, initiator, _t=geometry_type, _w=what):
                    return None if value is None else validate_wgs84(value, geometry_type=_t, what=_w)

                event.listen(attribute, "set", check_geometry, retval=True)
            elif isinstance(column.type, UTCDateTime):

                def check_datetime(target, value, oldvalue, initiator, _w=what):
                    return None if value is None else ensure_utc(value, what=_w)

                event.listen(attribute, "set", check_datetime, retval=True)


_install_validators()
