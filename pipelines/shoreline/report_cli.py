"""`vigie shoreline-report STATION --out DIR` and `vigie shoreline-worker [--once]`."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("shoreline-report", help="write a station's shoreline report (HTML and PDF)")
    p.add_argument("station", help="station slug")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.set_defaults(func=cmd_report)
    w = subparsers.add_parser("shoreline-worker", help="process uploaded shoreline photos in the background")
    w.add_argument("--once", action="store_true", help="process the pending photos, then exit")
    w.set_defaults(func=cmd_worker)


def _engine():
    from vigie.settings import get_settings
    from vigie.store.db import make_engine

    settings = get_settings()
    return settings, make_engine(settings.resolved_database_url)


def cmd_report(args: argparse.Namespace) -> int:
    from vigie.pipelines.shoreline.report import write_report
    from vigie.services.shoreline_exports import report_data
    from vigie.store.db import session_scope

    settings, engine = _engine()
    try:
        with session_scope(engine) as session:
            files = write_report(
                report_data(session, slug=args.station, media_dir=Path(settings.data_dir)), args.out
            )
    finally:
        engine.dispose()
    print(f"{files.html}\n{files.pdf}")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import signal
    import threading

    from vigie.pipelines.shoreline.worker import run_worker

    settings, engine = _engine()
    stop = threading.Event()
    if not args.once:
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        done = run_worker(settings=settings, engine=engine, stop_event=stop, once=args.once)
    except KeyboardInterrupt:
        stop.set()
        done = 0
    finally:
        engine.dispose()
    print(f"processed {done} photo(s)")
    return 0
