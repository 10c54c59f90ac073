"""LAPI: car parks (capacity, GDPR policy), subscribers, and the car park / role of reads and sessions.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PLATE_FORMATS = ("siv", "fni", "foreign", "unknown")
CAMERA_ROLES = ("lookout", "traffic", "entry", "exit", "patrol", "cradle", "other")


def _utc() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _enum(values: Sequence[str], name: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "car_parks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("site_id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=True),
        sa.Column("overstay_after_s", sa.Float(), nullable=True),
        sa.Column("store_clear_text", sa.Boolean(), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("purge_when_paid", sa.Boolean(), nullable=False),
        sa.Column("exit_means_paid", sa.Boolean(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint("capacity IS NULL OR capacity >= 0", name=op.f("ck_car_parks_capacity_positive")),
        sa.CheckConstraint(
            "overstay_after_s IS NULL OR overstay_after_s > 0", name=op.f("ck_car_parks_overstay_positive")
        ),
        sa.CheckConstraint("retention_days >= 0", name=op.f("ck_car_parks_retention_positive")),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_car_parks_site_id_sites"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_car_parks")),
        sa.UniqueConstraint("site_id", "slug", name=op.f("uq_car_parks_site_id_slug")),
    )
    op.create_index(op.f("ix_car_parks_site_id"), "car_parks", ["site_id"], unique=False)
    op.create_table(
        "parking_subscribers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("car_park_id", sa.Integer(), nullable=False),
        sa.Column("plate_hash", sa.String(length=64), nullable=False),
        sa.Column("plate_text", sa.String(length=16), nullable=True),
        sa.Column("plate_format", _enum(PLATE_FORMATS, "plate_format"), nullable=False),
        sa.Column("valid_from", _utc(), nullable=False),
        sa.Column("valid_to", _utc(), nullable=True),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "valid_to IS NULL OR valid_to > valid_from", name=op.f("ck_parking_subscribers_validity_order")
        ),
        sa.ForeignKeyConstraint(
            ["car_park_id"],
            ["car_parks.id"],
            name=op.f("fk_parking_subscribers_car_park_id_car_parks"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_parking_subscribers")),
    )
    op.create_index(
        "ix_parking_subscribers_car_park_id_plate_hash",
        "parking_subscribers",
        ["car_park_id", "plate_hash"],
        unique=False,
    )
    # batch mode: SQLite cannot add a foreign key to an existing table without recreating it.
    with op.batch_alter_table("plate_reads") as batch:
        batch.add_column(sa.Column("car_park_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("role", _enum(CAMERA_ROLES, "role"), nullable=True))
        batch.add_column(sa.Column("subscriber", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("raw_texts", _json(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_plate_reads_car_park_id_car_parks"),
            "car_parks",
            ["car_park_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch.create_index("ix_plate_reads_car_park_id_read_at", ["car_park_id", "read_at"], unique=False)
    with op.batch_alter_table("parking_sessions") as batch:
        batch.add_column(sa.Column("car_park_id", sa.Integer(), nullable=True))
        batch.alter_column("plate_hash", existing_type=sa.String(length=64), nullable=True)
        batch.create_foreign_key(
            op.f("fk_parking_sessions_car_park_id_car_parks"),
            "car_parks",
            ["car_park_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch.create_index(
            "ix_parking_sessions_car_park_id_plate_hash_status",
            ["car_park_id", "plate_hash", "status"],
            unique=False,
        )
        batch.create_index(
            "ix_parking_sessions_car_park_id_entry_at", ["car_park_id", "entry_at"], unique=False
        )


def downgrade() -> None:
    # Anonymised sessions have no hash; the older schema requires one.
    op.execute("DELETE FROM parking_sessions WHERE plate_hash IS NULL")
    with op.batch_alter_table("parking_sessions") as batch:
        batch.drop_index("ix_parking_sessions_car_park_id_entry_at")
        batch.drop_index("ix_parking_sessions_car_park_id_plate_hash_status")
        batch.drop_constraint(op.f("fk_parking_sessions_car_park_id_car_parks"), type_="foreignkey")
        batch.alter_column("plate_hash", existing_type=sa.String(length=64), nullable=False)
        batch.drop_column("car_park_id")
    with op.batch_alter_table("plate_reads") as batch:
        batch.drop_index("ix_plate_reads_car_park_id_read_at")
        batch.drop_constraint(op.f("fk_plate_reads_car_park_id_car_parks"), type_="foreignkey")
        batch.drop_column("raw_texts")
        batch.drop_column("subscriber")
        batch.drop_constraint(op.f("ck_plate_reads_role"), type_="check")
        batch.drop_column("role")
        batch.drop_column("car_park_id")
    op.drop_index("ix_parking_subscribers_car_park_id_plate_hash", table_name="parking_subscribers")
    op.drop_table("parking_subscribers")
    op.drop_index(op.f("ix_car_parks_site_id"), table_name="car_parks")
    op.drop_table("car_parks")
