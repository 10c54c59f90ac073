"""`vigie export counts|zones|od`: traffic counts to a file (long CSV, wide CSV, JSON) or counting sites to
GeoJSON; zone statistics and origin–destination trips (CSV, JSON) as the API exports them.

    vigie export counts --site fecamp --from 2026-11-27 --to 2026-11-27 --bin 60 --format wide --out day.csv
    vigie export od --site fecamp --from 2026-11-27 --to 2026-11-27 --out exports/

Heavy imports (SQLAlchemy models, services) happen inside the handler so that `vigie --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

FORMATS = ("csv", "wide", "json", "geojson")
FLOW_FORMATS = ("csv", "json")  # traffic_flows.FlowFormat, spelled out to keep the service import lazy
# kind → (help, default format as in the API, what the rows hold)
FLOW_COMMANDS = {
    "zones": ("zone statistics per stored bin (csv, json)", "csv",
              "entries, mean/max occupancy, dwell samples and mean/median dwell time per zone and class"),
    "od": ("origin–destination trips per stored bin (json, csv)", "json",
           "trips per origin line, destination line and class (JSON adds the matrix summed over the range)"),
}  # fmt: skip


def add_export_commands(groups: Any) -> None:
    """Add `counts`, `zones` and `od` to the `vigie export` group (`groups` from its `add_subparsers`)."""
    counts = groups.add_parser(
        "counts",
        help="traffic counts (csv, wide, json) or counting sites (geojson)",
        description="Export traffic counts of one site, filtered, optionally re-binned to a coarser bin. "
        "Dates are local days at the site (--to's day is included); times are written in ISO 8601 with the "
        "site's UTC offset.",
    )
    counts.add_argument(
        "--site", help="site slug (required, except with --format geojson: then all sites by default)"
    )
    counts.add_argument("--format", choices=FORMATS, default="csv", help="csv = long format (default)")
    counts.add_argument("--from", dest="start", help="first day (2026-11-27) or ISO datetime, inclusive")
    counts.add_argument("--to", dest="end", help="last day (included) or ISO datetime (exclusive)")
    counts.add_argument(
        "--class", dest="classes", action="append", help="car, heavy, bus, motorcycle, bicycle, pedestrian"
    )
    counts.add_argument("--line", dest="lines", action="append", help="counting line name (repeatable)")
    counts.add_argument("--camera", help="camera slug within the site")
    counts.add_argument("--bin", help="export bin: 15, 30, 60 (minutes), 1h or day (default: as stored)")
    counts.add_argument("--out", default="-", help="output file (default: standard output)")
    counts.add_argument("--db-url", help="database URL (default: VIGIE_DATABASE_URL or the SQLite file)")
    counts.set_defaults(func=cmd_export_counts)
    for kind in FLOW_COMMANDS:
        _add_flow_command(groups, kind)


def _add_flow_command(groups: Any, kind: str) -> None:
    """`vigie export zones|od`: the filters of `GET /api/v1/traffic/{kind}`; bins are exported as stored."""
    help_text, default_format, rows = FLOW_COMMANDS[kind]
    command = groups.add_parser(
        kind,
        help=help_text,
        description=f"Export the {rows} of one site, as stored (no re-binning). Dates are local days at "
        "the site (--to's day is included); times are written in ISO 8601 with the site's UTC offset.",
    )
    command.add_argument("--site", required=True, help="site slug")
    command.add_argument(
        "--format", choices=FLOW_FORMATS, default=default_format, help=f"default: {default_format}"
    )
    command.add_argument("--from", dest="start", help="first day (2026-11-27) or ISO datetime, inclusive")
    command.add_argument("--to", dest="end", help="last day (included) or ISO datetime (exclusive)")
    command.add_argument(
        "--class", dest="classes", action="append", help="car, heavy, bus, motorcycle, bicycle, pedestrian"
    )
    command.add_argument("--camera", help="camera slug within the site")
    command.add_argument(
        "--out",
        default="-",
        help="output file, or an existing folder to write the API's file name in "
        f"(e.g. {kind}-fecamp-20261127.{default_format}); default: standard output",
    )
    command.add_argument("--db-url", help="database URL (default: VIGIE_DATABASE_URL or the SQLite file)")
    command.set_defaults(func=cmd_export_flows, flow_kind=kind)


def _database_url(args: argparse.Namespace) -> str:
    if args.db_url:
        return str(args.db_url)
    from vigie.settings import get_settings

    return get_settings().resolved_database_url


@contextmanager
def _open_session(args: argparse.Namespace) -> Iterator[Session]:
    """A session on the export's database; an unreachable or unmigrated one is a ConfigError naming it."""
    from sqlalchemy.exc import OperationalError

    from vigie.errors import ConfigError
    from vigie.store.db import make_engine, make_sessionmaker

    engine = make_engine(_database_url(args))
    try:
        with make_sessionmaker(engine)() as session:
            yield session
    except OperationalError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError(
            f"database {engine.url.render_as_string()}: {reason} "
            "(is it reachable and migrated? see `vigie db upgrade`)"
        ) from exc
    finally:
        engine.dispose()


def cmd_export_counts(args: argparse.Namespace) -> int:
    from vigie.errors import InvalidInputError
    from vigie.services import traffic_exports

    if args.format == "geojson" and (args.lines or args.camera or args.bin):
        raise InvalidInputError(
            "--format geojson totals whole cameras: --line, --camera and --bin do not apply"
        )
    with _open_session(args) as session:
        if args.format == "geojson":
            collection = traffic_exports.counting_sites_geojson(
                session, site=args.site, start=args.start, end=args.end, classes=args.classes
            )
            chunks: Any = [json.dumps(collection, ensure_ascii=False, indent=1), "\n"]
        else:
            query = traffic_exports.build_count_query(
                session,
                site=args.site,
                start=args.start,
                end=args.end,
                classes=args.classes,
                lines=args.lines,
                camera=args.camera,
                bin_minutes=args.bin,
            )
            chunks = traffic_exports.render_counts(session, query, args.format)
        written = _write(chunks, args.out)
    _report(written, args.out)
    return 0


def cmd_export_flows(args: argparse.Namespace) -> int:
    """`vigie export zones|od`: the API's validation, renderers and file name (`services.traffic_flows`)."""
    from vigie.services import traffic_flows

    render = traffic_flows.render_zones if args.flow_kind == "zones" else traffic_flows.render_od
    with _open_session(args) as session:
        # Validated before anything is written: a bad filter leaves no truncated file behind.
        query = traffic_flows.build_flow_query(
            session,
            site=args.site,
            start=args.start,
            end=args.end,
            classes=args.classes,
            camera=args.camera,
        )
        out = args.out
        if out != "-" and Path(out).is_dir():
            out = str(Path(out) / traffic_flows.flow_filename(args.flow_kind, query, args.format))
        written = _write(render(session, query, args.format), out)
    _report(written, out)
    return 0


def _report(written: int, out: str) -> None:
    if out != "-":  # on stderr, so that stdout stays the export alone
        print(f"wrote {written} bytes to {out}", file=sys.stderr)


def _write(chunks: Any, out: str) -> int:
    """Write text chunks to `out` (a path, or `-` for stdout); CSV rows carry their own line ends."""
    if out == "-":
        return _write_to(chunks, sys.stdout)
    from vigie.errors import InvalidInputError

    try:
        with Path(out).open("w", encoding="utf-8", newline="") as stream:
            return _write_to(chunks, stream)
    except OSError as exc:
        raise InvalidInputError(f"--out {out}: cannot write this file: {exc.strerror}") from exc


def _write_to(chunks: Any, stream: TextIO) -> int:
    written = 0
    for chunk in chunks:
        stream.write(chunk)
        written += len(chunk.encode("utf-8"))
    return written
