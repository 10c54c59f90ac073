"""Traffic count exports: filtered, optionally re-binned, streamed as long CSV, wide CSV or JSON; and the
counting sites (camera points) with their totals as GeoJSON.

`build_count_query` validates every filter against the database before anything is streamed, so bad input
is a clear error (an HTTP 4xx, a CLI exit code) rather than a truncated file. The renderers then read the
rows in key order with `yield_per`, aggregate consecutive rows into export bins, and yield text chunks:
memory stays flat however long the range.

Times are exported in ISO 8601 with the site's UTC offset (see `vigie.services.traffic_periods`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, select
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError, NotFoundError
from vigie.services.sites import get_site
from vigie.services.traffic_periods import (
    DAY_MINUTES,
    export_bin,
    iso_local,
    parse_bin_minutes,
    parse_bound,
    site_zone,
)
from vigie.store.models import Camera, CameraRole, CountBin, Site

# The classes the counting pipeline writes, in the order exports list them.
TRAFFIC_CLASSES: tuple[str, ...] = ("car", "heavy", "bus", "motorcycle", "bicycle", "pedestrian")

LONG_COLUMNS = (
    "site",
    "camera",
    "line",
    "direction",
    "class",
    "period_start",
    "period_end",
    "count",
    "partial",
)
WIDE_KEY_COLUMNS = ("site", "camera", "line", "direction", "period_start", "period_end")

# Rows read per database round trip, and rows rendered per yielded chunk.
_YIELD_PER = 2000
_CHUNK_ROWS = 500
# Stored rows sampled to learn the stored bin size before re-binning (partial bins may be shorter).
_BIN_SAMPLE = 500


class ExportFormat(StrEnum):
    CSV = "csv"  # long: one row per camera, line, direction, class and period
    WIDE = "wide"  # one row per camera, line, direction and period; one column per class
    JSON = "json"


MEDIA_TYPES = {
    ExportFormat.CSV: "text/csv; charset=utf-8",
    ExportFormat.WIDE: "text/csv; charset=utf-8",
    ExportFormat.JSON: "application/json",
}


@dataclass(frozen=True, slots=True)
class CountQuery:
    """A validated export request: every filter resolved against the database."""

    site_id: int
    site_slug: str
    timezone: str
    start: datetime | None  # UTC, inclusive (period_start >= start)
    end: datetime | None  # UTC, exclusive (period_start < end)
    classes: tuple[str, ...]  # in TRAFFIC_CLASSES order
    lines: tuple[str, ...] = ()  # empty: every line
    camera_id: int | None = None
    camera_slug: str | None = None
    bin_minutes: int | None = None  # None: as stored

    @property
    def zone(self) -> ZoneInfo:
        return site_zone(self.timezone)


@dataclass(slots=True)
class CountGroup:
    """Counts of one camera, line and direction over one export period, per class."""

    camera: str
    line: str
    direction: str
    period_start: datetime  # UTC
    period_end: datetime  # UTC, the latest end of its classes
    counts: dict[str, int] = field(default_factory=dict)
    partial: dict[str, bool] = field(default_factory=dict)
    ends: dict[str, datetime] = field(default_factory=dict)
    observed_s: dict[str, float] = field(default_factory=dict)  # seconds of stored periods summed into it


def split_values(values: str | Iterable[str] | None) -> list[str]:
    """Repeated and comma-separated query values (`class=car&class=bus`, `class=car,bus`), in order."""
    if isinstance(values, str):  # one value, not an iterable of characters
        values = [values]
    out: list[str] = []
    for value in values or ():
        out.extend(part.strip() for part in value.split(",") if part.strip())
    return out


def parse_classes(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Requested classes in canonical order; none requested means all of them."""
    wanted = split_values(values)
    unknown = [name for name in wanted if name not in TRAFFIC_CLASSES]
    if unknown:
        raise InvalidInputError(
            f"class {', '.join(map(repr, unknown))}: not a traffic class "
            f"(expected {', '.join(TRAFFIC_CLASSES)})"
        )
    return tuple(name for name in TRAFFIC_CLASSES if not wanted or name in wanted)


def build_count_query(
    session: Session,
    *,
    site: str,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    classes: str | Iterable[str] | None = None,
    lines: str | Iterable[str] | None = None,
    camera: str | None = None,
    bin_minutes: str | int | None = None,
) -> CountQuery:
    """Resolve and check an export request.

    site: the site's slug (NotFoundError if unknown). start/end: dates or ISO datetimes (see
    `traffic_periods.parse_bound`); start must be before end. classes/lines: repeated or comma-separated
    values; unknown class → InvalidInputError. camera: a camera slug of the site (NotFoundError if unknown).
    bin_minutes: export bin (15, 60, "1h", "day"...); it must be a multiple of the stored bins, since counts
    cannot be split (InvalidInputError otherwise).
    """
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
    query = CountQuery(
        site_id=site_row.id,
        site_slug=site_row.slug,
        timezone=site_row.timezone,
        start=lower,
        end=upper,
        classes=parse_classes(classes),
        lines=tuple(dict.fromkeys(split_values(lines))),
        camera_id=None if camera_row is None else camera_row.id,
        camera_slug=None if camera_row is None else camera_row.slug,
        bin_minutes=parse_bin_minutes(bin_minutes),
    )
    _check_rebinning(session, query)
    return query


def _check_order(lower: datetime | None, upper: datetime | None, zone: ZoneInfo, site_row: Site) -> None:
    if lower is not None and upper is not None and lower >= upper:
        raise InvalidInputError(
            f"from {iso_local(lower, zone)} is not before to {iso_local(upper, zone)} "
            f"(site {site_row.slug!r}, time zone {site_row.timezone})"
        )


def _filters(query: CountQuery) -> list[Any]:
    conditions: list[Any] = [CountBin.site_id == query.site_id, CountBin.class_name.in_(query.classes)]
    if query.start is not None:
        conditions.append(CountBin.period_start >= query.start)
    if query.end is not None:
        conditions.append(CountBin.period_start < query.end)
    if query.lines:
        conditions.append(CountBin.line.in_(query.lines))
    if query.camera_id is not None:
        conditions.append(CountBin.camera_id == query.camera_id)
    return conditions


def _duration_seconds(dialect: str) -> Any:
    """SQL expression: period_end - period_start in seconds, on SQLite (UTC text) and PostgreSQL."""
    if dialect == "sqlite":
        return (func.julianday(CountBin.period_end) - func.julianday(CountBin.period_start)) * 86400.0
    return func.extract("epoch", CountBin.period_end - CountBin.period_start)


def stored_bin_seconds(session: Session, query: CountQuery) -> int | None:
    """The longest stored period among a sample of the requested rows (None when there are none)."""
    duration = _duration_seconds(session.get_bind().dialect.name).label("seconds")
    sample = select(duration).where(*_filters(query)).limit(_BIN_SAMPLE).subquery()
    longest = session.scalar(select(func.max(sample.c.seconds)))
    return None if longest is None else round(float(longest))


def _check_rebinning(session: Session, query: CountQuery) -> None:
    if query.bin_minutes is None:
        return
    stored = stored_bin_seconds(session, query)
    if stored is None or stored <= 0:
        return
    wanted = query.bin_minutes * 60
    # A local day is 23, 24 or 25 hours: any stored bin dividing an hour divides it.
    fits = (
        (stored <= 3600 and 3600 % stored == 0) if query.bin_minutes == DAY_MINUTES else wanted % stored == 0
    )
    if wanted < stored or not fits:
        stored_min = stored / 60
        label = f"{stored_min:g} min"
        raise InvalidInputError(
            f"bin={query.bin_minutes} min cannot be made from the stored {label} bins of site "
            f"{query.site_slug!r}: counts can only be summed into whole multiples of {label} "
            "(ask for the stored size, a multiple of it, or day)"
        )


# --- reading and aggregating --------------------------------------------------------------------------


def _rows_statement(query: CountQuery) -> Select[Any]:
    return (
        select(
            Camera.slug,
            CountBin.line,
            CountBin.direction,
            CountBin.class_name,
            CountBin.period_start,
            CountBin.period_end,
            CountBin.count,
            CountBin.partial,
        )
        .join(Camera, Camera.id == CountBin.camera_id)
        .where(*_filters(query))
        .order_by(Camera.slug, CountBin.line, CountBin.direction, CountBin.period_start, CountBin.class_name)
    )


def iter_count_groups(session: Session, query: CountQuery) -> Iterator[CountGroup]:
    """Groups in (camera, line, direction, period) order, summed into export bins when `bin_minutes` is set.

    A re-binned group is partial if any stored bin in it is partial or missing, or if the requested range
    cuts it.
    """
    zone = query.zone
    current: CountGroup | None = None
    result = session.execute(_rows_statement(query).execution_options(yield_per=_YIELD_PER))
    for camera, line, direction, class_name, start, end, count, partial in result:
        if query.bin_minutes is None:
            bin_start, bin_end = start, end
        else:
            bin_start, bin_end = export_bin(start, query.bin_minutes, zone)
            if end > bin_end + timedelta(seconds=1):
                raise InvalidInputError(
                    f"stored count bin {iso_local(start, zone)}–{iso_local(end, zone)} of camera {camera!r} "
                    f"spans more than one {query.bin_minutes}-min export bin"
                )
        key = (camera, line, direction, bin_start)
        if current is None or key != (current.camera, current.line, current.direction, current.period_start):
            if current is not None:
                yield _finish(current, query)
            current = CountGroup(camera, line, direction, bin_start, bin_end)
        current.counts[class_name] = current.counts.get(class_name, 0) + count
        current.partial[class_name] = current.partial.get(class_name, False) or bool(partial)
        current.ends[class_name] = max(current.ends.get(class_name, bin_end), bin_end)
        current.period_end = max(current.period_end, bin_end)
        current.observed_s[class_name] = (
            current.observed_s.get(class_name, 0.0) + (end - start).total_seconds()
        )
    if current is not None:
        yield _finish(current, query)


def _finish(group: CountGroup, query: CountQuery) -> CountGroup:
    """Mark a re-binned group partial where the range cuts it or a stored period is missing from it (the
    pipeline writes a row, zero included, for every watched period: a missing one was not watched)."""
    if query.bin_minutes is not None:
        cut = (query.start is not None and group.period_start < query.start) or (
            query.end is not None and group.period_end > query.end
        )
        length = (group.period_end - group.period_start).total_seconds()
        for class_name, observed in group.observed_s.items():
            if cut or observed < length - 1:
                group.partial[class_name] = True
    return group


def _long_records(group: CountGroup, query: CountQuery, zone: ZoneInfo) -> Iterator[dict[str, Any]]:
    start = iso_local(group.period_start, zone)
    for class_name in query.classes:
        if class_name in group.counts:
            yield {
                "site": query.site_slug,
                "camera": group.camera,
                "line": group.line,
                "direction": group.direction,
                "class": class_name,
                "period_start": start,
                "period_end": iso_local(group.ends[class_name], zone),
                "count": group.counts[class_name],
                "partial": group.partial[class_name],
            }


# --- renderers ----------------------------------------------------------------------------------------


def _csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    pending = 1
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= _CHUNK_ROWS:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    if pending:
        yield buffer.getvalue()


def _flag(value: bool) -> str:
    return "true" if value else "false"


def render_long_csv(session: Session, query: CountQuery) -> Iterator[str]:
    zone = query.zone

    def rows() -> Iterator[list[Any]]:
        for group in iter_count_groups(session, query):
            for record in _long_records(group, query, zone):
                record["partial"] = _flag(record["partial"])
                yield [record[name] for name in LONG_COLUMNS]

    return _csv_chunks(LONG_COLUMNS, rows())


def render_wide_csv(session: Session, query: CountQuery) -> Iterator[str]:
    """One row per period; a class absent from a period counted 0 (the pipeline writes only crossings)."""
    zone = query.zone
    header = (*WIDE_KEY_COLUMNS, *query.classes, "total", "partial")

    def rows() -> Iterator[list[Any]]:
        for group in iter_count_groups(session, query):
            counts = [group.counts.get(name, 0) for name in query.classes]
            yield [
                query.site_slug,
                group.camera,
                group.line,
                group.direction,
                iso_local(group.period_start, zone),
                iso_local(group.period_end, zone),
                *counts,
                sum(counts),
                _flag(any(group.partial.values())),
            ]

    return _csv_chunks(header, rows())


def render_json(session: Session, query: CountQuery) -> Iterator[str]:
    """`{"site", "timezone", "from", "to", "bin_minutes", "classes", "counts": [long records]}`, streamed."""
    zone = query.zone
    head = {
        "site": query.site_slug,
        "timezone": query.timezone,
        "from": None if query.start is None else iso_local(query.start, zone),
        "to": None if query.end is None else iso_local(query.end, zone),
        "bin_minutes": query.bin_minutes,
        "classes": list(query.classes),
        "camera": query.camera_slug,
        "lines": list(query.lines),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1] + ', "counts": ['
    separator = ""
    parts: list[str] = []
    for group in iter_count_groups(session, query):
        for record in _long_records(group, query, zone):
            parts.append(separator + json.dumps(record, ensure_ascii=False))
            separator = ","
        if len(parts) >= _CHUNK_ROWS:
            yield "".join(parts)
            parts.clear()
    parts.append("]}")
    yield "".join(parts)


RENDERERS = {
    ExportFormat.CSV: render_long_csv,
    ExportFormat.WIDE: render_wide_csv,
    ExportFormat.JSON: render_json,
}


def render_counts(session: Session, query: CountQuery, fmt: ExportFormat | str) -> Iterator[str]:
    """Text chunks of the export of `query` in `fmt` (csv, wide or json)."""
    try:
        renderer = RENDERERS[ExportFormat(fmt)]
    except ValueError as exc:
        raise InvalidInputError(
            f"format {fmt!r}: expected one of {', '.join(f.value for f in ExportFormat)}"
        ) from exc
    return renderer(session, query)


def export_filename(query: CountQuery, fmt: ExportFormat | str) -> str:
    zone = query.zone
    parts = ["counts", query.site_slug]
    if query.start is not None:
        parts.append(query.start.astimezone(zone).strftime("%Y%m%d"))
    if query.end is not None:
        parts.append((query.end - timedelta(microseconds=1)).astimezone(zone).strftime("%Y%m%d"))
    if ExportFormat(fmt) is ExportFormat.WIDE:
        parts.append("wide")
    return "-".join(parts) + (".json" if ExportFormat(fmt) is ExportFormat.JSON else ".csv")


# --- counting sites as GeoJSON ------------------------------------------------------------------------


def counting_sites_geojson(
    session: Session,
    *,
    site: str | None = None,
    start: str | datetime | None = None,
    end: str | datetime | None = None,
    classes: str | Iterable[str] | None = None,
) -> dict[str, Any]:
    """A FeatureCollection with one Point per counting camera (a traffic camera, or one with counts):
    properties name the site and camera, its lines, and totals per direction and class over the range.

    Date bounds are read in each site's own time zone. A camera without a position has a null geometry.
    """
    wanted = parse_classes(classes)
    sites = (
        [get_site(session, slug=site)] if site else list(session.scalars(select(Site).order_by(Site.slug)))
    )
    features: list[dict[str, Any]] = []
    for site_row in sites:
        zone = site_zone(site_row.timezone)
        lower = parse_bound(start, zone=zone, upper=False, what="from")
        upper = parse_bound(end, zone=zone, upper=True, what="to")
        _check_order(lower, upper, zone, site_row)
        features.extend(_site_features(session, site_row, zone, lower, upper, wanted))
    return {"type": "FeatureCollection", "features": features}


def _site_features(
    session: Session,
    site_row: Site,
    zone: ZoneInfo,
    lower: datetime | None,
    upper: datetime | None,
    classes: tuple[str, ...],
) -> Iterator[dict[str, Any]]:
    conditions: list[Any] = [CountBin.site_id == site_row.id, CountBin.class_name.in_(classes)]
    if lower is not None:
        conditions.append(CountBin.period_start >= lower)
    if upper is not None:
        conditions.append(CountBin.period_start < upper)
    totals: dict[int, dict[str, dict[str, int]]] = {}
    lines: dict[int, set[str]] = {}
    statement = (
        select(
            CountBin.camera_id,
            CountBin.line,
            CountBin.direction,
            CountBin.class_name,
            func.sum(CountBin.count),
        )
        .where(and_(*conditions))
        .group_by(CountBin.camera_id, CountBin.line, CountBin.direction, CountBin.class_name)
    )
    for camera_id, line, direction, class_name, total in session.execute(statement):
        per_direction = totals.setdefault(camera_id, {}).setdefault(direction, {})
        per_direction[class_name] = per_direction.get(class_name, 0) + int(total)
        lines.setdefault(camera_id, set()).add(line)
    cameras = session.scalars(select(Camera).where(Camera.site_id == site_row.id).order_by(Camera.slug))
    for camera in cameras:
        if camera.id not in totals and camera.role != CameraRole.TRAFFIC:
            continue
        by_direction = totals.get(camera.id, {})
        by_class = {name: sum(d.get(name, 0) for d in by_direction.values()) for name in classes}
        yield {
            "type": "Feature",
            "id": f"{site_row.slug}/{camera.slug}",
            "geometry": None
            if camera.location is None
            else {"type": "Point", "coordinates": [camera.longitude, camera.latitude]},
            "properties": {
                "site": site_row.slug,
                "site_name": site_row.name,
                "camera": camera.slug,
                "camera_name": camera.name,
                "timezone": site_row.timezone,
                "from": None if lower is None else iso_local(lower, zone),
                "to": None if upper is None else iso_local(upper, zone),
                "lines": sorted(lines.get(camera.id, ())),
                "totals_by_direction": {
                    direction: {name: counts.get(name, 0) for name in classes}
                    for direction, counts in sorted(by_direction.items())
                },
                "totals_by_class": by_class,
                "total": sum(by_class.values()),
            },
        }


__all__ = [
    "LONG_COLUMNS",
    "MEDIA_TYPES",
    "TRAFFIC_CLASSES",
    "CountGroup",
    "CountQuery",
    "ExportFormat",
    "build_count_query",
    "counting_sites_geojson",
    "export_filename",
    "iter_count_groups",
    "parse_classes",
    "render_counts",
    "split_values",
]
