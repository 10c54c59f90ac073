"""Shoreline: station setup (frame origin, camera guess, plan grid), stable mask, tide constituents;
photo processing details and the `flagged` photo status; per-transect distances of shorelines; measured
water levels.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


# The photo status is a VARCHAR with a CHECK constraint (models._enum): a new value means a new CHECK.
PHOTO_STATUSES_0001 = ("pending", "accepted", "rejected", "processed", "failed")
PHOTO_STATUSES = (*PHOTO_STATUSES_0001, "flagged")


def _status_check(values: Sequence[str]) -> str:
    return "status IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _replace_status_check(values: Sequence[str]) -> None:
    """Batch mode: SQLite cannot alter a CHECK, so there the table is recreated with the new one.

    Recreating drops the old table, and with foreign keys on (store.db turns them on, and the PRAGMA cannot
    be turned off inside the migration's transaction) that drop deletes the photos' shorelines by cascade:
    they are kept aside in a temporary table and put back."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        op.execute("CREATE TEMPORARY TABLE _shorelines_kept AS SELECT * FROM shorelines")
    with op.batch_alter_table("shoreline_photos") as batch:
        batch.drop_constraint(op.f("ck_shoreline_photos_status"), type_="check")
        batch.create_check_constraint(op.f("ck_shoreline_photos_status"), _status_check(values))
    if sqlite:
        op.execute("INSERT INTO shorelines SELECT * FROM _shorelines_kept")
        op.execute("DROP TABLE _shorelines_kept")


def upgrade() -> None:
    # batch mode: SQLite recreates the table where ALTER TABLE cannot do the change.
    with op.batch_alter_table("shoreline_stations") as batch:
        batch.add_column(sa.Column("setup", _json(), nullable=True))
        batch.add_column(sa.Column("stable_mask_path", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("tide", _json(), nullable=True))
    with op.batch_alter_table("shoreline_photos") as batch:
        batch.add_column(sa.Column("details", _json(), nullable=True))
        batch.add_column(sa.Column("processed_at", _utc(), nullable=True))
    _replace_status_check(PHOTO_STATUSES)
    with op.batch_alter_table("shorelines") as batch:
        batch.add_column(sa.Column("transect_distances", _json(), nullable=True))
    op.create_table(
        "shoreline_water_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("station_id", sa.Integer(), nullable=False),
        sa.Column("at", _utc(), nullable=False),
        sa.Column("level_m", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["station_id"],
            ["shoreline_stations.id"],
            name=op.f("fk_shoreline_water_levels_station_id_shoreline_stations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shoreline_water_levels")),
        sa.UniqueConstraint("station_id", "at", name=op.f("uq_shoreline_water_levels_station_id_at")),
    )


def downgrade() -> None:
    op.drop_table("shoreline_water_levels")
    with op.batch_alter_table("shorelines") as batch:
        batch.drop_column("transect_distances")
    # `flagged` did not exist before: such photos become `failed`, which keeps their reason.
    op.execute("UPDATE shoreline_photos SET status = 'failed' WHERE status = 'flagged'")
    _replace_status_check(PHOTO_STATUSES_0001)
    with op.batch_alter_table("shoreline_photos") as batch:
        batch.drop_column("processed_at")
        batch.drop_column("details")
    with op.batch_alter_table("shoreline_stations") as batch:
        batch.drop_column("tide")
        batch.drop_column("stable_mask_path")
        batch.drop_column("setup")
