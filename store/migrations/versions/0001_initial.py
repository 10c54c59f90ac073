"""Initial schema: sites, cameras, health, detections, alerts, counts, plates, parking, shoreline, audit.

Revision ID: 0001
Revises:
Create Date: 2026-11-28

Dialect notes: geometry columns are PostGIS `geometry(<type>,4326)` with GiST indexes on PostgreSQL and hex
EWKB text on SQLite (no SpatiaLite); timestamps are `timestamptz` on PostgreSQL; JSON is JSONB there.
The column types are spelled out here (not imported from vigie.store) so this file stays valid when the
models change.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (index name, table, geometry column): GiST indexes, PostgreSQL only.
SPATIAL_INDEXES = [
    ("ix_sites_location", "sites", "location"),
    ("ix_cameras_location", "cameras", "location"),
    ("ix_alerts_location", "alerts", "location"),
    ("ix_alerts_uncertainty", "alerts", "uncertainty"),
    ("ix_shorelines_geometry", "shorelines", "geometry"),
]


def _geometry(geometry_type: str) -> sa.types.TypeEngine:
    return sa.Text().with_variant(Geometry(geometry_type, srid=4326, spatial_index=False), "postgresql")


def _utc() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if _is_postgresql():
        # Needs a superuser the first time; a no-op (no privilege needed) once the extension exists.
        op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("roles", _json(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("last_used_at", _utc(), nullable=True),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_api_tokens_token_hash")),
    )
    op.create_table(
        "audit_log",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("object", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=True),
        sa.Column("details", _json(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_at"), "audit_log", ["at"], unique=False)
    op.create_index(op.f("ix_audit_log_object"), "audit_log", ["object"], unique=False)
    op.create_table(
        "sites",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "fire",
                "traffic",
                "lapi",
                "shoreline",
                "mixed",
                name="kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("location", _geometry("POINT"), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sites")),
        sa.UniqueConstraint("slug", name=op.f("uq_sites_slug")),
    )
    op.create_table(
        "worker_health",
        sa.Column("worker_id", sa.String(length=128), nullable=False),
        sa.Column("pipeline", sa.String(length=32), nullable=False),
        sa.Column("hostname", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "starting",
                "running",
                "stopping",
                "stopped",
                "failed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("details", _json(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_worker_health")),
    )
    op.create_index(op.f("ix_worker_health_last_seen_at"), "worker_health", ["last_seen_at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column(
            "kind",
            sa.Enum("smoke", "fire", name="kind", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column(
            "status",
            sa.Enum(
                "new",
                "acknowledged",
                "confirmed",
                "false_alarm",
                "closed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("first_seen_at", _utc(), nullable=False),
        sa.Column("last_seen_at", _utc(), nullable=False),
        sa.Column("location", _geometry("POINT"), nullable=True),
        sa.Column("uncertainty", _geometry("POLYGON"), nullable=True),
        sa.Column("bearings", _json(), nullable=False),
        sa.Column("cameras", _json(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("danger_level", sa.String(length=32), nullable=True),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("calibration_version", sa.String(length=100), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("last_seen_at >= first_seen_at", name=op.f("ck_alerts_seen_order")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_alerts_site_id_sites"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("public_id", name=op.f("uq_alerts_public_id")),
    )
    op.create_index(op.f("ix_alerts_site_id"), "alerts", ["site_id"], unique=False)
    op.create_index("ix_alerts_status_last_seen_at", "alerts", ["status", "last_seen_at"], unique=False)
    op.create_table(
        "cameras",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "lookout",
                "traffic",
                "entry",
                "exit",
                "patrol",
                "cradle",
                "other",
                name="role",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("source_uri", sa.Text(), nullable=True),
        sa.Column("location", _geometry("POINT"), nullable=True),
        sa.Column("elevation_m", sa.Float(), nullable=True),
        sa.Column("heading_deg", sa.Float(), nullable=True),
        sa.Column("hfov_deg", sa.Float(), nullable=True),
        sa.Column("vfov_deg", sa.Float(), nullable=True),
        sa.Column("image_width", sa.Integer(), nullable=True),
        sa.Column("image_height", sa.Integer(), nullable=True),
        sa.Column("calibration_version", sa.String(length=100), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("heading_deg >= 0 AND heading_deg <= 360", name=op.f("ck_cameras_heading_range")),
        sa.CheckConstraint("hfov_deg > 0 AND hfov_deg <= 180", name=op.f("ck_cameras_hfov_range")),
        sa.CheckConstraint(
            "image_width > 0 AND image_height > 0", name=op.f("ck_cameras_image_size_positive")
        ),
        sa.CheckConstraint("vfov_deg > 0 AND vfov_deg <= 180", name=op.f("ck_cameras_vfov_range")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_cameras_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cameras")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_cameras_site_id_slug")),
    )
    op.create_index(op.f("ix_cameras_site_id"), "cameras", ["site_id"], unique=False)
    op.create_table(
        "shoreline_stations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("location", _geometry("POINT"), nullable=True),
        sa.Column("epsg", sa.Integer(), nullable=False),
        sa.Column("gcps", _json(), nullable=False),
        sa.Column("transects", _json(), nullable=False),
        sa.Column("reference_image_path", sa.String(length=500), nullable=True),
        sa.Column("calibration_version", sa.String(length=100), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_shoreline_stations_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shoreline_stations")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_shoreline_stations_site_id_slug")),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "new",
                "acknowledged",
                "confirmed",
                "false_alarm",
                "closed",
                name="from_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "new",
                "acknowledged",
                "confirmed",
                "false_alarm",
                "closed",
                name="to_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_id_at", "alert_events", ["alert_id", "at"], unique=False)
    op.create_table(
        "camera_health",
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "unknown",
                "starting",
                "up",
                "degraded",
                "down",
                "disabled",
                name="state",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("last_frame_at", _utc(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("reconnects", sa.Integer(), nullable=False),
        sa.Column("frames_read", sa.BigInteger(), nullable=False),
        sa.Column("frames_dropped", sa.BigInteger(), nullable=False),
        sa.Column("worker_id", sa.String(length=128), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_camera_health_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("camera_id", name=op.f("pk_camera_health")),
    )
    op.create_table(
        "camera_poses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("heading_deg", sa.Float(), nullable=False),
        sa.Column("tilt_deg", sa.Float(), nullable=True),
        sa.Column("hfov_deg", sa.Float(), nullable=True),
        sa.Column("calibration_version", sa.String(length=100), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "heading_deg >= 0 AND heading_deg <= 360", name=op.f("ck_camera_poses_heading_range")
        ),
        sa.CheckConstraint("hfov_deg > 0 AND hfov_deg <= 180", name=op.f("ck_camera_poses_hfov_range")),
        sa.CheckConstraint("tilt_deg >= -90 AND tilt_deg <= 90", name=op.f("ck_camera_poses_tilt_range")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_camera_poses_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_camera_poses")),
        sa.UniqueConstraint("camera_id", "name", name=op.f("uq_camera_poses_camera_id_name")),
    )
    op.create_index(op.f("ix_camera_poses_camera_id"), "camera_poses", ["camera_id"], unique=False)
    op.create_table(
        "count_bins",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.String(length=64), nullable=False),
        sa.Column("direction", sa.String(length=32), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("period_start", _utc(), nullable=False),
        sa.Column("period_end", _utc(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.CheckConstraint("count >= 0", name=op.f("ck_count_bins_count_positive")),
        sa.CheckConstraint("period_end > period_start", name=op.f("ck_count_bins_period_order")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_count_bins_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_count_bins_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_count_bins")),
        sa.UniqueConstraint(
            "camera_id",
            "line",
            "direction",
            "class_name",
            "period_start",
            name=op.f("uq_count_bins_camera_id_line_direction_class_name_period_start"),
        ),
    )
    op.create_index(
        "ix_count_bins_site_id_period_start", "count_bins", ["site_id", "period_start"], unique=False
    )
    op.create_table(
        "plate_reads",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("read_at", _utc(), nullable=False),
        sa.Column("plate_hash", sa.String(length=64), nullable=False),
        sa.Column("plate_text", sa.String(length=16), nullable=True),
        sa.Column(
            "plate_format",
            sa.Enum(
                "siv",
                "fni",
                "foreign",
                "unknown",
                name="plate_format",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("track_id", sa.Integer(), nullable=True),
        sa.Column("ocr_model_name", sa.String(length=100), nullable=True),
        sa.Column("ocr_model_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_plate_reads_confidence_range")
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_plate_reads_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_plate_reads")),
    )
    op.create_index("ix_plate_reads_camera_id_read_at", "plate_reads", ["camera_id", "read_at"], unique=False)
    op.create_index(
        "ix_plate_reads_plate_hash_read_at", "plate_reads", ["plate_hash", "read_at"], unique=False
    )
    op.create_table(
        "shoreline_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("taken_at", _utc(), nullable=True),
        sa.Column("uploaded_at", _utc(), nullable=False),
        sa.Column("path", sa.String(length=500), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "accepted",
                "rejected",
                "processed",
                "failed",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("quality", _json(), nullable=True),
        sa.Column("reprojection_rms_px", sa.Float(), nullable=True),
        sa.Column("water_level_m", sa.Float(), nullable=True),
        sa.Column("reject_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["shoreline_stations.id"],
            name=op.f("fk_shoreline_photos_station_id_shoreline_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shoreline_photos")),
        sa.UniqueConstraint("sha256", name=op.f("uq_shoreline_photos_sha256")),
    )
    op.create_index(
        "ix_shoreline_photos_station_id_taken_at",
        "shoreline_photos",
        ["station_id", "taken_at"],
        unique=False,
    )
    op.create_table(
        "detections",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("pose_id", sa.Integer(), nullable=True),
        sa.Column("alert_id", sa.Integer(), nullable=True),
        sa.Column("captured_at", _utc(), nullable=False),
        sa.Column("pipeline", sa.String(length=32), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("tracker_id", sa.Integer(), nullable=True),
        sa.Column("azimuth_deg", sa.Float(), nullable=True),
        sa.Column("data", _json(), nullable=True),
        sa.Column("calibration_version", sa.String(length=100), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.Column("x1", sa.Float(), nullable=False),
        sa.Column("y1", sa.Float(), nullable=False),
        sa.Column("x2", sa.Float(), nullable=False),
        sa.Column("y2", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "confidence >= 0 AND confidence <= 1", name=op.f("ck_detections_confidence_range")
        ),
        sa.CheckConstraint("x2 >= x1 AND y2 >= y1", name=op.f("ck_detections_box_order")),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_detections_alert_id_alerts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f("fk_detections_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["pose_id"],
            ["camera_poses.id"],
            name=op.f("fk_detections_pose_id_camera_poses"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_detections")),
    )
    op.create_index(op.f("ix_detections_alert_id"), "detections", ["alert_id"], unique=False)
    op.create_index(
        "ix_detections_camera_id_captured_at", "detections", ["camera_id", "captured_at"], unique=False
    )
    op.create_table(
        "parking_sessions",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("plate_hash", sa.String(length=64), nullable=False),
        sa.Column("entry_read_id", _big_id(), nullable=True),
        sa.Column("exit_read_id", _big_id(), nullable=True),
        sa.Column("entry_at", _utc(), nullable=False),
        sa.Column("exit_at", _utc(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "closed",
                "flagged",
                name="status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("flag_reason", sa.String(length=200), nullable=True),
        sa.Column("subscriber", sa.Boolean(), nullable=False),
        sa.Column("paid", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "exit_at IS NULL OR exit_at >= entry_at", name=op.f("ck_parking_sessions_exit_after_entry")
        ),
        sa.ForeignKeyConstraint(
            ["entry_read_id"],
            ["plate_reads.id"],
            name=op.f("fk_parking_sessions_entry_read_id_plate_reads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["exit_read_id"],
            ["plate_reads.id"],
            name=op.f("fk_parking_sessions_exit_read_id_plate_reads"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_parking_sessions_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_sessions")),
    )
    op.create_index(
        "ix_parking_sessions_site_id_entry_at", "parking_sessions", ["site_id", "entry_at"], unique=False
    )
    op.create_index(
        "ix_parking_sessions_site_id_plate_hash_status",
        "parking_sessions",
        ["site_id", "plate_hash", "status"],
        unique=False,
    )
    op.create_table(
        "shorelines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("photo_id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("geometry", _geometry("LINESTRING"), nullable=False),
        sa.Column("water_level_m", sa.Float(), nullable=True),
        sa.Column("point_confidence", _json(), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("calibration_version", sa.String(length=100), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["photo_id"],
            ["shoreline_photos.id"],
            name=op.f("fk_shorelines_photo_id_shoreline_photos"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["shoreline_stations.id"],
            name=op.f("fk_shorelines_station_id_shoreline_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shorelines")),
    )
    op.create_index(op.f("ix_shorelines_photo_id"), "shorelines", ["photo_id"], unique=False)
    op.create_index(
        "ix_shorelines_station_id_created_at", "shorelines", ["station_id", "created_at"], unique=False
    )

    if _is_postgresql():
        for name, table, column in SPATIAL_INDEXES:
            op.create_index(name, table, [column], unique=False, postgresql_using="gist")


def downgrade() -> None:
    # Dropping a table drops its indexes; the PostGIS extension is left in place (other schemas may use it).
    op.drop_table("shorelines")
    op.drop_table("parking_sessions")
    op.drop_table("detections")
    op.drop_table("shoreline_photos")
    op.drop_table("plate_reads")
    op.drop_table("count_bins")
    op.drop_table("camera_poses")
    op.drop_table("camera_health")
    op.drop_table("alert_events")
    op.drop_table("shoreline_stations")
    op.drop_table("cameras")
    op.drop_table("alerts")
    op.drop_table("worker_health")
    op.drop_table("sites")
    op.drop_table("audit_log")
    op.drop_table("api_tokens")
