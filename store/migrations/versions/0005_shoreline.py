"""Shoreline: station setup (frame origin, camera guess, plan grid), stable mask, tide constituents;
photo processing details; per-transect distances of shorelines; measured water levels.

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


def upgrade() -> None:
    # batch mode: SQLite recreates the table where ALTER TABLE cannot do the change.
    with op.batch_alter_table("shoreline_stations") as batch:
        batch.add_column(sa.Column("setup", _json(), nullable=True))
        batch.add_column(sa.Column("stable_mask_path", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("tide", _json(), nullable=True))
    with op.batch_alter_table("shoreline_photos") as batch:
        batch.add_column(sa.Column("details", _json(), nullable=True))
        batch.add_column(sa.Column("processed_at", _utc(), nullable=True))
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
    with op.batch_alter_table("shoreline_photos") as batch:
        batch.drop_column("processed_at")
        batch.drop_column("details")
    with op.batch_alter_table("shoreline_stations") as batch:
        batch.drop_column("tide")
        batch.drop_column("stable_mask_path")
        batch.drop_column("setup")
