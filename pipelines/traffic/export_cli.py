"""`vigie export counts`: traffic counts to a file (long CSV, wide CSV, JSON) or counting sites to GeoJSON.

    vigie export counts --site fecamp --from 2026-11-27 --to 2026-11-27 --bin 60 --format wide --out day.csv

Heavy imports (SQLAlchemy models, services) happen inside the handler so that `vigie --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TextIO

FORMATS = ("csv", "wide", "json", "geojson")


def add_export_commands(groups: Any) -> None:
    """Add `counts` to the `vigie export` group (`groups` from the export parser's `add_subparsers`)."""
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


def _database_url(args: argparse.Namespace) -> str:
    if args.db_url:
        return str(args.db_url)
    from vigie.settings import get_settings

    return get_settings().resolved_database_url


def cmd_export_counts(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import OperationalError

    from vigie.errors import ConfigError, InvalidInputError
    from vigie.services import traffic_exports
    from vigie.store.db import make_engine, make_sessionmaker

    if args.format == "geojson" and (args.lines or args.camera or args.bin):
        raise InvalidInputError(
            "--format geojson totals whole cameras: --line, --camera and --bin do not apply"
        )
    engine = make_engine(_database_url(args))
    try:
        with make_sessionmaker(engine)() as session:
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
    except OperationalError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise ConfigError(
            f"database {engine.url.render_as_string()}: {reason} "
            "(is it reachable and migrated? see `vigie db upgrade`)"
        ) from exc
    finally:
        engine.dispose()
    if args.out != "-":
        print(f"wrote {written} bytes to {args.out}", file=sys.stderr)
    return 0


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
