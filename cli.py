"""The `vigie` command. Heavy imports happen inside each command so that `vigie --help` stays instant."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from vigie import __version__
from vigie.errors import (
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    SourceError,
    VigieError,
)
from vigie.pipelines.fire.cli import add_commands as add_fire
from vigie.pipelines.fire.export_cli import add_export_commands as add_fire_exports
from vigie.pipelines.lapi.cli import add_commands as add_lapi_plates
from vigie.pipelines.lapi.park_cli import add_commands as add_lapi_parking
from vigie.pipelines.shoreline.cli import add_commands as add_shoreline
from vigie.pipelines.shoreline.report_cli import add_commands as add_shoreline_reports
from vigie.pipelines.traffic.cli import add_commands as add_traffic
from vigie.pipelines.traffic.export_cli import add_export_commands as add_traffic_exports
from vigie.settings import Settings, get_settings

# Each adds its subcommands to the `vigie` parser; they import their heavy modules only when run.
PIPELINE_COMMANDS = (
    add_fire,
    add_traffic,
    add_lapi_plates,
    add_lapi_parking,
    add_shoreline,
    add_shoreline_reports,
)

# Exit codes: scripts and systemd units can tell a bad input from a missing model from a crash.
EXIT_CODES: list[tuple[type[VigieError], int]] = [
    (InvalidInputError, 2),  # ConfigError included
    (NotFoundError, 3),
    (ModelUnavailableError, 4),
    (SourceError, 5),
    (VigieError, 1),
]


def _settings() -> Settings:
    return get_settings()  # ConfigError when the VIGIE_* environment is invalid


# --- serve / db -------------------------------------------------------------------------------------


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from vigie.api.app import create_app
    from vigie.store.db import upgrade

    settings = _settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not args.no_upgrade:
        upgrade(settings.resolved_database_url)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_config=None)
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from vigie.store.db import current_revision, upgrade

    settings = _settings()
    url = args.url or settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if args.db_command == "upgrade":
        upgrade(url, revision=args.revision)
    print(f"database revision: {current_revision(url) or '(empty)'}")
    return 0


# --- weights ----------------------------------------------------------------------------------------


def cmd_weights(args: argparse.Namespace) -> int:
    from vigie.weights import manager

    weights_dir = _settings().weights_dir
    if args.weights_command == "list":
        results = {r.model: r for r in manager.verify(weights_dir=weights_dir)}
        rows = [("name", "version", "task", "backend", "licence", "cached")]
        for name, spec in manager.load_manifest().items():
            state = results[name].status if name in results else "missing"
            rows.append((name, spec.version, spec.task, spec.backend, spec.licence, state))
        _print_table(rows)
        return 0
    if args.weights_command == "fetch":
        names = list(manager.load_manifest()) if args.all else args.names
        if not names:
            raise InvalidInputError("vigie weights fetch: name at least one model, or --all")
        failed = 0
        for name in names:
            try:
                resolved = manager.fetch(name, weights_dir=weights_dir, force=args.force)
                print(f"{name} {resolved.version}: ok ({resolved.directory})")
            except ModelUnavailableError as exc:
                if not args.all:
                    raise
                # URL-only models are expected to fail offline; the registry ones must not.
                failed += 1
                print(f"{name}: not fetched: {exc}", file=sys.stderr)
        return 0 if not failed or args.allow_missing else 4
    if args.weights_command == "verify":
        results = manager.verify(args.name, weights_dir=weights_dir)
        _print_table(
            [("model", "version", "role", "status", "detail")]
            + [(r.model, r.version, r.role, r.status, r.detail) for r in results]
        )
        return 0 if all(r.ok for r in results) else 4
    raise InvalidInputError(f"unknown weights command {args.weights_command!r}")


# --- tokens -----------------------------------------------------------------------------------------


def cmd_token(args: argparse.Namespace) -> int:
    from vigie.services import tokens
    from vigie.store.db import make_engine, session_scope, upgrade

    settings = _settings()
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    secret = settings.secret_key.get_secret_value()
    with session_scope(make_engine(url)) as session:
        if args.token_command == "create":
            row, clear = tokens.create_token(session, name=args.name, roles=args.role, secret=secret)
            print(clear)
            print(
                f"token {row.id} {row.name!r} roles={','.join(row.roles)}: shown once, store it now",
                file=sys.stderr,
            )
        elif args.token_command == "list":
            _print_table(
                [("id", "name", "roles", "created", "revoked")]
                + [
                    (
                        str(t.id),
                        t.name,
                        ",".join(t.roles),
                        t.created_at.isoformat(timespec="seconds"),
                        t.revoked_at.isoformat(timespec="seconds") if t.revoked_at else "",
                    )
                    for t in tokens.list_tokens(session)
                ]
            )
        elif args.token_command == "revoke":
            tokens.revoke_token(session, token_id=args.id)
            print(f"token {args.id} revoked")
    return 0


# --- workers, demo, bench ---------------------------------------------------------------------------


def cmd_run(args: argparse.Namespace) -> int:
    from vigie.pipelines.runner import run_from_config

    return run_from_config(
        args.pipeline,
        Path(args.config),
        settings=_settings(),
        max_frames=args.max_frames,
        metrics_port=args.metrics_port,
    )


def cmd_demo(args: argparse.Namespace) -> int:
    from vigie.pipelines.demo import run_demo

    return run_demo(settings=_settings(), serve=not args.no_serve, host=args.host, port=args.port)


def cmd_bench(args: argparse.Namespace) -> int:
    import platform
    from datetime import UTC, datetime

    import cv2
    import torch

    from vigie.vision.bench import bench_detect, format_table
    from vigie.vision.detector import DarknetDetectorConfig, UltralyticsDetectorConfig
    from vigie.vision.ultralytics_compat import ultralytics_assets_dir
    from vigie.weights.manager import load_manifest

    manifest = load_manifest()
    names = args.model or [
        n for n, spec in manifest.items() if spec.task == "detect" and spec.source.type == "pypi"
    ]
    devices = args.device or (["cpu", "cuda:0"] if torch.cuda.is_available() else ["cpu"])
    folder = Path(args.images) if args.images else ultralytics_assets_dir()
    paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    images = [img for img in (cv2.imread(str(p)) for p in paths) if img is not None]
    if not images:
        raise InvalidInputError(f"--images {folder}: no readable .jpg/.png image in this folder")
    configs: list[UltralyticsDetectorConfig | DarknetDetectorConfig] = []
    for name in names:
        if name not in manifest:
            raise InvalidInputError(f"--model {name!r}: not in the weights manifest ({', '.join(manifest)})")
        for device in devices:
            if manifest[name].backend == "darknet":
                configs.append(
                    DarknetDetectorConfig(
                        type="darknet",
                        model=name,
                        device=device,
                        **({"input_size": args.imgsz} if args.imgsz else {}),
                    )
                )
            else:
                configs.append(
                    UltralyticsDetectorConfig(
                        type="ultralytics",
                        model=name,
                        device=device,
                        imgsz=args.imgsz,
                        half=device.startswith("cuda"),
                    )
                )
    rows = bench_detect(
        configs, images, repeats=args.repeats, onnx_variants=args.onnx, weights_dir=_settings().weights_dir
    )
    print(
        f"# vigie bench detect — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        f" — {platform.processor() or platform.machine()}"
        f", {os.cpu_count()} cores, {len(images)} images from {folder}"
    )
    print(format_table(rows))
    return 0


def _print_table(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for j, row in enumerate(rows):
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if j == 0:
            print("  ".join("-" * w for w in widths))


# --- parser -----------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="vigie", description="Vigie: computer vision for local authorities.")
    p.add_argument("--version", action="version", version=f"vigie {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logs")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("serve", help="serve the HTTP API and pages")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--no-upgrade", action="store_true", help="do not migrate the database at start")
    s.set_defaults(func=cmd_serve)

    s = sub.add_parser("db", help="database migrations")
    s.add_argument("db_command", choices=["upgrade", "current"])
    s.add_argument("--url", help="database URL (default: VIGIE_DATABASE_URL or the SQLite file)")
    s.add_argument("--revision", default="head")
    s.set_defaults(func=cmd_db)

    s = sub.add_parser("weights", help="list, fetch and verify model files")
    ws = s.add_subparsers(dest="weights_command", required=True)
    ws.add_parser("list", help="models in the manifest and their cache state")
    f = ws.add_parser("fetch", help="download models into the cache")
    f.add_argument("names", nargs="*", metavar="NAME")
    f.add_argument("--all", action="store_true", help="every model in the manifest")
    f.add_argument("--force", action="store_true", help="download again even if cached")
    f.add_argument(
        "--allow-missing", action="store_true", help="with --all: exit 0 if some cannot be reached"
    )
    v = ws.add_parser("verify", help="check cached files against their sha256")
    v.add_argument("name", nargs="?")
    s.set_defaults(func=cmd_weights)

    s = sub.add_parser("token", help="API tokens")
    ts = s.add_subparsers(dest="token_command", required=True)
    c = ts.add_parser("create", help="create a token and print it once")
    c.add_argument("name")
    c.add_argument(
        "--role",
        action="append",
        required=True,
        choices=["admin", "operator", "planner", "coastal", "parking", "worker"],
    )
    ts.add_parser("list")
    r = ts.add_parser("revoke")
    r.add_argument("id", type=int)
    s.set_defaults(func=cmd_token)

    s = sub.add_parser("run", help="run a long-running pipeline worker")
    s.add_argument("pipeline", help="pipeline name (see `vigie run --help`)")
    s.add_argument("--config", required=True, help="YAML site file")
    s.add_argument("--max-frames", type=int, default=None, help="stop after N frames per camera (tests)")
    s.add_argument("--metrics-port", type=int, default=None, help="serve Prometheus metrics on this port")
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("demo", help="embedded defaults: SQLite, sample inputs, every pipeline, then serve")
    s.add_argument("--no-serve", action="store_true", help="process the samples and exit")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.set_defaults(func=cmd_demo)

    # One-shot and maintenance commands of the use-case pipelines.
    for add_commands in PIPELINE_COMMANDS:
        add_commands(sub)

    s = sub.add_parser("export", help="export results to files")
    export_groups = s.add_subparsers(dest="export_command", required=True, metavar="WHAT")
    add_traffic_exports(export_groups)
    add_fire_exports(export_groups)

    s = sub.add_parser("bench", help="benchmarks")
    bs = s.add_subparsers(dest="bench_command", required=True)
    b = bs.add_parser("detect", help="frames per second per backend and device")
    b.add_argument(
        "--model", action="append", help="manifest model name (repeatable; default: all detectors)"
    )
    b.add_argument("--images", help="folder of images (default: images shipped with ultralytics)")
    b.add_argument("--repeats", type=int, default=20)
    b.add_argument("--device", action="append", help="cpu, cuda:0 ... (default: cpu, plus cuda:0 if present)")
    b.add_argument("--imgsz", type=int, default=None, help="inference size (default: each model's)")
    b.add_argument("--onnx", action="store_true", help="also bench ONNX exports of ultralytics models")
    s.set_defaults(func=cmd_bench)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from vigie.observability import configure_logging

    try:
        settings = _settings()
        configure_logging("DEBUG" if args.verbose else settings.log_level, settings.log_json)
        func: Callable[[argparse.Namespace], int] = args.func
        return func(args)
    except VigieError as exc:
        print(f"vigie: error: {exc}", file=sys.stderr)
        return next(code for cls, code in EXIT_CODES if isinstance(exc, cls))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
