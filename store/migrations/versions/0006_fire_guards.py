"""Fire: unique all-sites danger level per day (and other fire guards).

`fire_danger_levels` has UNIQUE (site_id, day), but NULL site ids never collide in it, so two writers could
each store an all-sites level for the same day. A partial unique index on (day) WHERE site_id IS NULL
closes that gap on SQLite and PostgreSQL alike. Duplicates already stored are reduced first to the most
recently set row of each day, the one readers were most likely to see.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ALL_SITES_INDEX = "uq_fire_danger_levels_day_all_sites"
ALL_SITES = "site_id IS NULL"

# Delete an all-sites row when another one of the same day was set later (or at the same time, with a
# higher id): one row per day survives. Portable SQL (SQLite and PostgreSQL).
DROP_DUPLICATES = """
DELETE FROM fire_danger_levels
WHERE site_id IS NULL AND EXISTS (
    SELECT 1 FROM fire_danger_levels AS newer
    WHERE newer.site_id IS NULL
      AND newer.day = fire_danger_levels.day
      AND (newer.set_at > fire_danger_levels.set_at
           OR (newer.set_at = fire_danger_levels.set_at AND newer.id > fire_danger_levels.id))
)
"""


def upgrade() -> None:
    op.execute(sa.text(DROP_DUPLICATES))
    op.create_index(
        ALL_SITES_INDEX,
        "fire_danger_levels",
        ["day"],
        unique=True,
        sqlite_where=sa.text(ALL_SITES),
        postgresql_where=sa.text(ALL_SITES),
    )


def downgrade() -> None:
    op.drop_index(ALL_SITES_INDEX, table_name="fire_danger_levels")
