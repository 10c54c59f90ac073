"""Traffic: observed stretch and mean speed of each count bin; zone bins and origin–destination bins.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _big_id() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _bin_columns(table: str) -> list[sa.SchemaItem]:
    """Columns and constraints shared by zone and OD bins: owner, period, watch state, provenance."""
    return [
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("camera_id", sa.Integer(), nullable=False),
        sa.Column("period_start", _utc(), nullable=False),
        sa.Column("period_end", _utc(), nullable=False),
        sa.Column("partial", sa.Boolean(), nullable=False),
        sa.Column("observed_s", sa.Float(), nullable=True),
        sa.Column("observed_until", _utc(), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=100), nullable=False),
        sa.CheckConstraint("period_end > period_start", name=op.f(f"ck_{table}_period_order")),
        sa.ForeignKeyConstraint(
            ["camera_id"], ["cameras.id"], name=op.f(f"fk_{table}_camera_id_cameras"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f(f"fk_{table}_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
    ]


def upgrade() -> None:
    # Nullable columns only: plain ADD COLUMN works on SQLite and PostgreSQL alike.
    op.add_column("count_bins", sa.Column("observed_s", sa.Float(), nullable=True))
    op.add_column("count_bins", sa.Column("observed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("count_bins", sa.Column("mean_speed_kmh", sa.Float(), nullable=True))
    op.add_column("count_bins", sa.Column("speed_samples", sa.Integer(), nullable=True))
    op.create_table(
        "zone_bins",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("zone", sa.String(length=64), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("mean_occupancy", sa.Float(), nullable=True),
        sa.Column("max_occupancy", sa.Integer(), nullable=False),
        sa.Column("dwell_samples", sa.Integer(), nullable=False),
        sa.Column("mean_dwell_s", sa.Float(), nullable=True),
        sa.Column("median_dwell_s", sa.Float(), nullable=True),
        *_bin_columns("zone_bins"),
        sa.CheckConstraint(
            "entries >= 0 AND max_occupancy >= 0 AND dwell_samples >= 0",
            name=op.f("ck_zone_bins_counts_positive"),
        ),
        sa.UniqueConstraint(
            "camera_id",
            "zone",
            "class_name",
            "period_start",
            name=op.f("uq_zone_bins_camera_id_zone_class_name_period_start"),
        ),
    )
    op.create_index("ix_zone_bins_site_id_period_start", "zone_bins", ["site_id", "period_start"])
    op.create_table(
        "od_bins",
        sa.Column("id", _big_id(), nullable=False),
        sa.Column("origin", sa.String(length=64), nullable=False),
        sa.Column("destination", sa.String(length=64), nullable=False),
        sa.Column("class_name", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        *_bin_columns("od_bins"),
        sa.CheckConstraint("count >= 0", name=op.f("ck_od_bins_count_positive")),
        sa.UniqueConstraint(
            "camera_id",
            "origin",
            "destination",
            "class_name",
            "period_start",
            name=op.f("uq_od_bins_camera_id_origin_destination_class_name_period_start"),
        ),
    )
    op.create_index("ix_od_bins_site_id_period_start", "od_bins", ["site_id", "period_start"])


def downgrade() -> None:
    op.drop_index("ix_od_bins_site_id_period_start", table_name="od_bins")
    op.drop_table("od_bins")
    op.drop_index("ix_zone_bins_site_id_period_start", table_name="zone_bins")
    op.drop_table("zone_bins")
    with op.batch_alter_table("count_bins") as batch:
        batch.drop_column("speed_samples")
        batch.drop_column("mean_speed_kmh")
        batch.drop_column("observed_until")
        batch.drop_column("observed_s")
