"""Idempotent writes: INSERT ... ON CONFLICT DO UPDATE on PostgreSQL and SQLite alike.

Pipelines that re-process a period (restart, replay) must replace what they wrote, not add to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError
from vigie.store.geometry import GeometryType, validate_wgs84
from vigie.store.models import Base, CountBin
from vigie.store.types import UTCDateTime, ensure_utc, utcnow

COUNT_BIN_KEY = ("camera_id", "line", "direction", "class_name", "period_start")
COUNT_BIN_UPDATED = ("period_end", "count", "partial", "model_name", "model_version")


def _validated(model: type[Base], row: Mapping[str, Any]) -> dict[str, Any]:
    """Check a row as ORM assignment would (bulk statements bypass attribute events)."""
    table = model.__table__
    values = dict(row)
    for name, value in values.items():
        if name not in table.c:
            raise InvalidInputError(f"{table.name}: unknown column {name!r}")
        column_type = table.c[name].type
        if value is None:
            continue
        if isinstance(column_type, UTCDateTime):
            values[name] = ensure_utc(value, what=f"{table.name}.{name}")
        elif isinstance(column_type, GeometryType):
            values[name] = validate_wgs84(
                value, geometry_type=column_type.geometry_type, what=f"{table.name}.{name}"
            )
    return values


def upsert(
    session: Session,
    model: type[Base],
    rows: Iterable[Mapping[str, Any]],
    *,
    key: Sequence[str],
    update: Sequence[str],
) -> int:
    """Insert `rows` into `model`'s table; where a row with the same `key` (a unique constraint) exists,
    overwrite its `update` columns (and `updated_at` if the table has one). Returns the number of rows sent.
    """
    table = model.__table__
    prepared = [_validated(model, row) for row in rows]
    if not prepared:
        return 0
    for row in prepared:
        missing = [name for name in key if name not in row]
        if missing:
            raise InvalidInputError(f"{table.name}: upsert row lacks key column(s) {missing}")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        statement = postgresql.insert(table)
    elif dialect == "sqlite":
        statement = sqlite.insert(table)
    else:
        raise InvalidInputError(f"upsert: unsupported database dialect {dialect!r} (postgresql or sqlite)")
    set_ = {name: statement.excluded[name] for name in update}
    if "updated_at" in table.c:
        set_["updated_at"] = utcnow()
    statement = statement.on_conflict_do_update(index_elements=list(key), set_=set_)
    session.execute(statement, prepared)
    return len(prepared)


def upsert_count_bins(session: Session, bins: Iterable[Mapping[str, Any]]) -> int:
    """Write count bins idempotently: the same (camera, line, direction, class, period_start) replaces the
    stored count instead of adding to it."""
    return upsert(session, CountBin, bins, key=COUNT_BIN_KEY, update=COUNT_BIN_UPDATED)
