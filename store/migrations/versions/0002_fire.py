"""Fire: the alert's best frame and box, and the daily fire-danger level.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    # batch mode: SQLite cannot add a foreign key to an existing table without recreating it.
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("frame_path", sa.Text(), nullable=True))
        batch.add_column(sa.Column("frame_box", _json(), nullable=True))
        batch.add_column(sa.Column("frame_camera_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_alerts_frame_camera_id_cameras"), "cameras", ["frame_camera_id"], ["id"], ondelete="SET NULL"
        )
    op.create_table(
        "fire_danger_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("level >= 1 AND level <= 5", name=op.f("ck_fire_danger_levels_level_range")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_fire_danger_levels_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fire_danger_levels")),
        sa.UniqueConstraint("site_id", "day", name=op.f("uq_fire_danger_levels_site_id_day")),
    )


def downgrade() -> None:
    op.drop_table("fire_danger_levels")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint(op.f("fk_alerts_frame_camera_id_cameras"), type_="foreignkey")
        batch.drop_column("frame_camera_id")
        batch.drop_column("frame_box")
        batch.drop_column("frame_path")
