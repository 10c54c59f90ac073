"""`vigie lapi purge` and `vigie lapi import-subscribers FILE`: the parking side's one-shot commands.

`add_commands(subparsers)` adds a `lapi` command with these subcommands to the `vigie` parser; each sets
`func=handler(args) -> int`. Heavy modules are imported inside the handlers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from vigie.settings import Settings

from vigie.errors import InvalidInputError, NotFoundError


def _settings() -> Settings:
    from vigie.settings import get_settings

    return get_settings()


def _engine(args: argparse.Namespace) -> tuple[Settings, Engine]:
    from vigie.store.db import make_engine, upgrade

    settings = _settings()
    url = args.database_url or settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    return settings, make_engine(url)


def _car_park_id(session: Session, site: str | None, car_park: str | None) -> int | None:
    from sqlalchemy import select

    from vigie.store.models import CarPark, Site

    if car_park is None:
        return None
    query = select(CarPark).join(Site, Site.id == CarPark.site_id).where(CarPark.slug == car_park)
    if site is not None:
        query = query.where(Site.slug == site)
    rows = list(session.scalars(query))
    if not rows:
        raise NotFoundError(
            f"--car-park {car_park!r}: no such car park" + (f" in site {site!r}" if site else "")
        )
    if len(rows) > 1:
        raise InvalidInputError(f"--car-park {car_park!r} exists in several sites: give --site")
    return rows[0].id


def cmd_purge(args: argparse.Namespace) -> int:
    from vigie.services.lapi_gdpr import purge
    from vigie.store.db import session_scope

    _, engine = _engine(args)
    try:
        with session_scope(engine) as session:
            car_park_id = _car_park_id(session, args.site, args.car_park)
            report = purge(
                session,
                car_park_id=car_park_id,
                default_retention_days=args.default_retention_days,
                actor="cli:lapi-purge",
            )
    finally:
        engine.dispose()
    print(
        f"purge: {report.reads_deleted} read(s) deleted, {report.sessions_anonymised} session(s) anonymised, "
        f"{report.clear_text_cleared} clear text(s) cleared, {report.subscribers_deleted} expired "
        f"subscription(s) deleted, {report.sessions_flagged} session(s) flagged without exit"
    )
    return 0


def cmd_import_subscribers(args: argparse.Namespace) -> int:
    from vigie.services.lapi_gdpr import audit_plate_access
    from vigie.services.lapi_subscribers import decode_subscriber_file, import_subscribers_csv
    from vigie.store.db import session_scope

    path = Path(args.file)
    if not path.is_file():
        raise InvalidInputError(f"subscriber file {path}: not found or not a file")
    text = decode_subscriber_file(path.read_bytes())
    settings, engine = _engine(args)
    try:
        with session_scope(engine) as session:
            car_park_id = _car_park_id(session, args.site, args.car_park)
            assert car_park_id is not None  # --car-park is required
            report = import_subscribers_csv(
                session, car_park_id=car_park_id, text=text, secret=settings.secret_key.get_secret_value()
            )
            audit_plate_access(
                session, actor="cli:lapi-import-subscribers", action="lapi.subscribers.import",
                object=f"car_park:{car_park_id}", purpose=args.purpose,
                details={"file": path.name, "imported": report.imported, "rejected": len(report.rejected)},
            )  # fmt: skip
    finally:
        engine.dispose()
    print(f"import: {report.imported} subscription(s) imported, {len(report.rejected)} row(s) rejected")
    for row in report.rejected:  # reasons and cells show plates masked only
        print(f"  line {row.line}: {row.reason}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    lapi = subparsers.add_parser("lapi", help="Parking (LAPI): retention purge, subscriber import.")
    commands = lapi.add_subparsers(dest="lapi_command", required=True)

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--database-url", help="Default: VIGIE_DATABASE_URL or the SQLite file.")
        parser.add_argument("--site", help="Site slug (when car-park slugs repeat across sites).")

    purge = commands.add_parser(
        "purge",
        help="Apply the retention policy: delete old reads, anonymise closed sessions, flag overstays.",
    )
    common(purge)
    purge.add_argument("--car-park", help="Only this car park (slug); default: all.")
    purge.add_argument(
        "--default-retention-days",
        type=int,
        default=7,
        help="Retention of reads by cameras outside any car park (default 7).",
    )
    purge.set_defaults(func=cmd_purge)

    imp = commands.add_parser(
        "import-subscribers",
        help="Import subscriptions from a CSV (plate,valid_from,valid_to,reference); bad rows are listed.",
    )
    imp.add_argument("file", help="CSV file, ',' or ';' separated, with a header line.")
    common(imp)
    imp.add_argument("--car-park", required=True, help="Car park slug.")
    imp.add_argument(
        "--purpose",
        default="subscriber list import",
        help="Recorded in the audit log (default: %(default)s).",
    )
    imp.set_defaults(func=cmd_import_subscribers)
