"""Exports of zone statistics (`zone_bins`) and origin–destination trips (`od_bins`) as CSV or JSON.

Same conventions as the count exports (`vigie.services.traffic_exports`): the request is validated before
anything is streamed (unknown site or camera → NotFoundError, bad dates or classes → InvalidInputError),
bounds are read in the site's time zone, periods are exported as stored (no re-binning) in ISO 8601 with
the site's UTC offset, rows are read with `yield_per` so memory stays flat.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError, NotFoundError
from vigie.services.sites import get_site
from vigie.services.traffic_exports import _check_order, _csv_chunks, _flag, parse_classes
from vigie.services.traffic_periods import iso_local, parse_bound, site_zone
from vigie.store.models import Camera, ODBin, ZoneBin

ZONE_COLUMNS = (
    "site",
    "camera",
    "zone",
    "class",
    "period_start",
    "period_end",
    "entries",
    "mean_occupancy",
    "max_occupancy",
    "dwell_samples",
    "mean_dwell_s",
    "median_dwell_s",
    "partial",
)
OD_COLUMNS = (
    "site",
    "camera",
    "origin",
    "destination",
    "class",
    "period_start",
    "period_end",
    "count",
    "partial",
)
_YIELD_PER = 2000


class FlowFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


FLOW_MEDIA_TYPES = {FlowFormat.CSV: "text/csv; charset=utf-8", FlowFormat.JSON: "application/json"}


@dataclass(frozen=True, slots=True)
class FlowQuery:
    """A validated zone or OD export request."""

    site_id: int
    site_slug: str
    timezone: str
    start: datetime | None  # UTC, inclusive on period_start
    end: datetime | None  # UTC, exclusive on period_start
    classes: tuple[str, ...]
    camera_id: int | None = None
    camera_slug: str | None = None


def build_flow_query(
    session: Session,
    *,
    site: str,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    classes: str | Iterable[str] | None = None,
    camera: str | None = None,
) -> FlowQuery:
    """Resolve and check a zone/OD export request (see `traffic_exports.build_count_query` for bounds)."""
    site_row = get_site(session, slug=site)
    zone = site_zone(site_row.timezone)
    lower = parse_bound(start, zone=zone, upper=False, what="from")
    upper = parse_bound(end, zone=zone, upper=True, what="to")
    _check_order(lower, upper, zone, site_row)
    camera_row = None
    if camera:
        camera_row = session.scalar(
            select(Camera).where(Camera.site_id == site_row.id, Camera.slug == camera)
        )
        if camera_row is None:
            raise NotFoundError(f"camera {camera!r} does not exist at site {site!r}")
    return FlowQuery(
        site_id=site_row.id,
        site_slug=site_row.slug,
        timezone=site_row.timezone,
        start=lower,
        end=upper,
        classes=parse_classes(classes),
        camera_id=None if camera_row is None else camera_row.id,
        camera_slug=None if camera_row is None else camera_row.slug,
    )


def _where(model: type[ZoneBin] | type[ODBin], query: FlowQuery) -> list[Any]:
    conditions: list[Any] = [model.site_id == query.site_id, model.class_name.in_(query.classes)]
    if query.start is not None:
        conditions.append(model.period_start >= query.start)
    if query.end is not None:
        conditions.append(model.period_start < query.end)
    if query.camera_id is not None:
        conditions.append(model.camera_id == query.camera_id)
    return conditions


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def iter_zone_records(session: Session, query: FlowQuery) -> Iterator[dict[str, Any]]:
    """One record per camera, zone, class and stored period, in that order (classes in canonical order)."""
    zone = site_zone(query.timezone)
    order = {name: i for i, name in enumerate(query.classes)}
    statement: Select[Any] = (
        select(Camera.slug, ZoneBin)
        .join(Camera, Camera.id == ZoneBin.camera_id)
        .where(*_where(ZoneBin, query))
        .order_by(Camera.slug, ZoneBin.zone, ZoneBin.period_start, ZoneBin.class_name)
    )
    batch: list[tuple[str, ZoneBin]] = []
    for camera, row in session.execute(statement.execution_options(yield_per=_YIELD_PER)):
        if batch and (batch[0][0], batch[0][1].zone, batch[0][1].period_start) != (
            camera,
            row.zone,
            row.period_start,
        ):
            yield from _zone_batch(batch, query, zone, order)
            batch = []
        batch.append((camera, row))
    yield from _zone_batch(batch, query, zone, order)


def _zone_batch(
    batch: list[tuple[str, ZoneBin]], query: FlowQuery, zone: Any, order: dict[str, int]
) -> Iterator[dict[str, Any]]:
    for camera, row in sorted(batch, key=lambda item: order[item[1].class_name]):
        yield {
            "site": query.site_slug,
            "camera": camera,
            "zone": row.zone,
            "class": row.class_name,
            "period_start": iso_local(row.period_start, zone),
            "period_end": iso_local(row.period_end, zone),
            "entries": row.entries,
            "mean_occupancy": _round(row.mean_occupancy, 3),
            "max_occupancy": row.max_occupancy,
            "dwell_samples": row.dwell_samples,
            "mean_dwell_s": _round(row.mean_dwell_s, 2),
            "median_dwell_s": _round(row.median_dwell_s, 2),
            "partial": bool(row.partial),
        }


def iter_od_records(session: Session, query: FlowQuery) -> Iterator[dict[str, Any]]:
    """One record per camera, origin, destination, stored period and class."""
    zone = site_zone(query.timezone)
    statement: Select[Any] = (
        select(Camera.slug, ODBin)
        .join(Camera, Camera.id == ODBin.camera_id)
        .where(*_where(ODBin, query))
        .order_by(Camera.slug, ODBin.origin, ODBin.destination, ODBin.period_start, ODBin.class_name)
    )
    for camera, row in session.execute(statement.execution_options(yield_per=_YIELD_PER)):
        yield {
            "site": query.site_slug,
            "camera": camera,
            "origin": row.origin,
            "destination": row.destination,
            "class": row.class_name,
            "period_start": iso_local(row.period_start, zone),
            "period_end": iso_local(row.period_end, zone),
            "count": row.count,
            "partial": bool(row.partial),
        }


def _head(query: FlowQuery) -> dict[str, Any]:
    zone = site_zone(query.timezone)
    return {
        "site": query.site_slug,
        "timezone": query.timezone,
        "from": None if query.start is None else iso_local(query.start, zone),
        "to": None if query.end is None else iso_local(query.end, zone),
        "camera": query.camera_slug,
        "classes": list(query.classes),
    }


def _json_chunks(head: dict[str, Any], key: str, records: Iterable[dict[str, Any]]) -> Iterator[str]:
    yield json.dumps(head, ensure_ascii=False)[:-1] + f', "{key}": ['
    separator = ""
    parts: list[str] = []
    for record in records:
        parts.append(separator + json.dumps(record, ensure_ascii=False))
        separator = ","
        if len(parts) >= 500:
            yield "".join(parts)
            parts.clear()
    parts.append("]}")
    yield "".join(parts)


def _csv_rows(records: Iterable[dict[str, Any]], columns: tuple[str, ...]) -> Iterator[list[Any]]:
    for record in records:
        yield [
            _flag(record[c]) if c == "partial" else ("" if record[c] is None else record[c]) for c in columns
        ]


def _format(fmt: FlowFormat | str) -> FlowFormat:
    try:
        return FlowFormat(fmt)
    except ValueError as exc:
        raise InvalidInputError(
            f"format {fmt!r}: expected one of {', '.join(f.value for f in FlowFormat)}"
        ) from exc


def render_zones(session: Session, query: FlowQuery, fmt: FlowFormat | str) -> Iterator[str]:
    """Zone statistics as CSV (ZONE_COLUMNS) or JSON (`{..., "zones": [records]}`)."""
    if _format(fmt) is FlowFormat.JSON:
        return _json_chunks(_head(query), "zones", iter_zone_records(session, query))
    return _csv_chunks(ZONE_COLUMNS, _csv_rows(iter_zone_records(session, query), ZONE_COLUMNS))


def od_totals(session: Session, query: FlowQuery) -> list[dict[str, Any]]:
    """The matrix over the whole range: trips per camera, origin, destination and class."""
    totals: dict[tuple[str, str, str, str], int] = {}
    for r in iter_od_records(session, query):
        key = (r["camera"], r["origin"], r["destination"], r["class"])
        totals[key] = totals.get(key, 0) + r["count"]
    return [
        {"camera": c, "origin": o, "destination": d, "class": k, "count": n}
        for (c, o, d, k), n in sorted(totals.items())
    ]


def render_od(session: Session, query: FlowQuery, fmt: FlowFormat | str) -> Iterator[str]:
    """OD trips per period as CSV (OD_COLUMNS) or JSON (`{..., "totals": [matrix], "od": [records]}`)."""
    if _format(fmt) is FlowFormat.JSON:
        head = _head(query) | {"totals": od_totals(session, query)}
        return _json_chunks(head, "od", iter_od_records(session, query))
    return _csv_chunks(OD_COLUMNS, _csv_rows(iter_od_records(session, query), OD_COLUMNS))


def flow_filename(kind: str, query: FlowQuery, fmt: FlowFormat | str) -> str:
    zone = site_zone(query.timezone)
    parts = [kind, query.site_slug]
    if query.start is not None:
        parts.append(query.start.astimezone(zone).strftime("%Y%m%d"))
    return "-".join(parts) + "." + _format(fmt).value


__all__ = [
    "FLOW_MEDIA_TYPES",
    "OD_COLUMNS",
    "ZONE_COLUMNS",
    "FlowFormat",
    "FlowQuery",
    "build_flow_query",
    "flow_filename",
    "iter_od_records",
    "iter_zone_records",
    "od_totals",
    "render_od",
    "render_zones",
]
