"""Camera health: the `ended` state of a finished file source.

The state column is a VARCHAR with a CHECK constraint (`ck_camera_health_state`, no native enum): changing
its type from the old value list to the new one makes Alembic drop and recreate that constraint, with plain
ALTERs on PostgreSQL and a table copy on SQLite (batch mode).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_STATES = ("unknown", "starting", "up", "degraded", "down", "disabled")
NEW_STATES = (*OLD_STATES, "ended")
# The old schema cannot say "finished": a finished camera is not known to be live either.
DOWNGRADED_ENDED = "unknown"


def _state(values: Sequence[str]) -> sa.Enum:
    return sa.Enum(*values, name="state", native_enum=False, create_constraint=True, length=32)


def _change_states(old: Sequence[str], new: Sequence[str]) -> None:
    with op.batch_alter_table("camera_health") as batch:
        batch.alter_column("state", existing_type=_state(old), type_=_state(new), existing_nullable=False)


def upgrade() -> None:
    _change_states(OLD_STATES, NEW_STATES)


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE camera_health SET state = :old WHERE state = 'ended'").bindparams(
            old=DOWNGRADED_ENDED
        )
    )
    _change_states(NEW_STATES, OLD_STATES)
