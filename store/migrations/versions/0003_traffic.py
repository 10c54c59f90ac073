"""Traffic: observed stretch and mean speed of each count bin.

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


def upgrade() -> None:
    # Nullable columns only: plain ADD COLUMN works on SQLite and PostgreSQL alike.
    op.add_column("count_bins", sa.Column("observed_s", sa.Float(), nullable=True))
    op.add_column("count_bins", sa.Column("observed_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("count_bins", sa.Column("mean_speed_kmh", sa.Float(), nullable=True))
    op.add_column("count_bins", sa.Column("speed_samples", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("count_bins") as batch:
        batch.drop_column("speed_samples")
        batch.drop_column("mean_speed_kmh")
        batch.drop_column("observed_until")
        batch.drop_column("observed_s")
