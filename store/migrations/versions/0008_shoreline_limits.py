"""Shoreline: upload rate-limit hits shared by every API process.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        # SQLite only auto-increments an INTEGER PRIMARY KEY (models.BigId).
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=32), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    op.create_index(
        "ix_rate_limit_hits_scope_key_at", "rate_limit_hits", ["scope", "key", "at"], unique=False
    )
    op.create_index("ix_rate_limit_hits_scope_at", "rate_limit_hits", ["scope", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hits_scope_at", table_name="rate_limit_hits")
    op.drop_index("ix_rate_limit_hits_scope_key_at", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
