"""Portable column types: UTC-aware timestamps and JSON (JSONB on PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from vigie.errors import InvalidInputError

# JSON documents; JSONB on PostgreSQL so they can be indexed and queried there.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (the only kind the store accepts)."""
    return datetime.now(UTC)


def ensure_utc(value: Any, *, what: str = "timestamp") -> datetime:
    """Return `value` converted to UTC; refuse naive datetimes, whose time zone would be a guess."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"{what}: expected a timezone-aware datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(
            f"{what}: expected a timezone-aware datetime, got naive {value.isoformat()} "
            "(use datetime.now(UTC) or attach a tzinfo)"
        )
    try:
        return utc_instant(value)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{what}: {exc}") from None


def utc_instant(value: datetime) -> datetime:
    """An aware `value` in UTC; InvalidInputError when that instant is outside what a datetime holds."""
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC instant a datetime can hold
        raise InvalidInputError(
            f"{value.isoformat()} is outside years 1 to 9999 once converted to UTC"
        ) from None


class UTCDateTime(TypeDecorator[datetime]):
    """`timestamptz` on PostgreSQL; naive-UTC text on SQLite. Aware UTC datetimes in and out on both."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = ensure_utc(value)
        # SQLite's DATETIME text has no offset: store UTC wall time, re-attached on read.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
