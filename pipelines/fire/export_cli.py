"""`vigie export training-data`: YOLO images + labels from operator-labelled fire alerts.

`add_commands(subparsers)` adds an `export` group with a `training-data` subcommand; other exports can
later be added to the same group (`add_export_subcommands(group)` takes the group's subparsers).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_export_commands(group: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = group.add_parser(
        "training-data",
        help="YOLO images/labels from confirmed alerts (boxes) and false alarms (hard negatives)",
    )
    p.add_argument("--out", required=True, type=Path, help="output folder (created; files are overwritten)")
    p.add_argument(
        "--status",
        default="confirmed,false_alarm",
        help="operator labels to export, comma-separated (default: confirmed,false_alarm)",
    )
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of images in the val split (0.2)")
    p.add_argument(
        "--database-url", default=None, help="SQLAlchemy URL (default: VIGIE_DATABASE_URL or SQLite)"
    )
    p.set_defaults(func=cmd_export_training_data)


def cmd_export_training_data(args: argparse.Namespace) -> int:
    from vigie.services.fire_export import export_training_data, parse_statuses
    from vigie.settings import get_settings
    from vigie.store.db import make_engine, session_scope

    statuses = parse_statuses(args.status)
    settings = get_settings()
    engine = make_engine(args.database_url or settings.resolved_database_url)
    try:
        with session_scope(engine) as session:
            summary = export_training_data(
                session,
                data_dir=settings.data_dir,
                out_dir=args.out,
                statuses=statuses,
                val_fraction=args.val_fraction,
            )
    finally:
        engine.dispose()
    print(
        f"{summary.images} image(s) in {summary.out_dir}: {summary.positives} labelled, "
        f"{summary.negatives} hard negative(s); train {summary.splits['train']}, val {summary.splits['val']}"
    )
    for reason in summary.skipped:
        print(f"skipped {reason}", file=sys.stderr)
    print(f"train with: yolo detect train data={(summary.out_dir / 'data.yaml').as_posix()}")
    return 0
