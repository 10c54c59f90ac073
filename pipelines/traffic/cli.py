"""`vigie count VIDEO --line x1,y1,x2,y2[:name] ... [--bin 15min] --out counts.csv`: one-shot, no database."""

from __future__ import annotations

import argparse
from pathlib import Path

from vigie.pipelines.traffic.config import DEFAULT_CONF, DEFAULT_INPUT_SIZE


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "count",
        help="count road users crossing lines in a video file",
        description="Detect, track and count crossings of each line, by direction and class; write a "
        "long-format CSV of binned counts. Nothing but counts is written.",
    )
    p.add_argument("video", type=Path, help="video file (mp4, avi, mkv...)")
    p.add_argument(
        "--line", action="append", required=True, metavar="x1,y1,x2,y2[:name]",
        help="counting line in pixels; repeat for several. `out` = crossing from the left of A→B to its "
        "right as drawn in the image (y down), `in` the other way",
    )  # fmt: skip
    p.add_argument("--lanes", type=int, default=1, help="lanes each line spans (heavy-goods size rule)")
    p.add_argument("--bin", default="15min", help="bin length: 1min, 5min, 15min (default) or 60min")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write")
    p.add_argument("--od", type=Path, help="also write the origin-destination matrix between lines (CSV)")
    p.add_argument("--classes", help="comma-separated Vigie classes (default: all)")
    p.add_argument("--model", default="coco-yolov4-tiny", help="manifest model or a model file")
    p.add_argument("--conf", type=float, default=DEFAULT_CONF, help="detector confidence threshold")
    p.add_argument(
        "--input-size", type=int, default=DEFAULT_INPUT_SIZE,
        help="darknet network input (multiple of 32); larger finds smaller vehicles, slower",
    )  # fmt: skip
    p.add_argument("--tiles", metavar="COLSxROWS", help="detect on overlapping tiles, e.g. 2x2 (slower)")
    p.add_argument("--detect-every", type=int, default=1, help="run the detector on every k-th frame")
    p.add_argument("--timezone", default="Europe/Paris", help="IANA time zone of the bins")
    p.add_argument("--start", help="wall-clock time of the first frame, ISO 8601 with offset")
    p.set_defaults(func=cmd_count)


def cmd_count(args: argparse.Namespace) -> int:
    import csv
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from pydantic import ValidationError

    from vigie.errors import ConfigError, InvalidInputError, NotFoundError
    from vigie.pipelines.traffic.bins import parse_bin
    from vigie.pipelines.traffic.config import TrafficCameraConfig, TrafficPipelineConfig
    from vigie.pipelines.traffic.offline import count_video, parse_line_arg, utc_start, write_counts_csv
    from vigie.settings import get_settings
    from vigie.vision.detector import DarknetDetectorConfig, UltralyticsDetectorConfig

    if not args.video.is_file():
        raise NotFoundError(f"video {args.video}: no such file")
    try:
        ZoneInfo(args.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"--timezone {args.timezone!r}: expected an IANA name such as Europe/Paris"
        ) from None
    try:
        lines = [
            parse_line_arg(text, i).model_copy(update={"lanes": args.lanes})
            for i, text in enumerate(args.line)
        ]
        camera = TrafficCameraConfig(lines=lines)
        suffix = Path(args.model).suffix.lower()
        detector = (
            UltralyticsDetectorConfig(type="ultralytics", model=args.model, conf=args.conf)
            if suffix in (".pt", ".onnx", ".engine") or args.model.startswith(("coco-yolo1", "yolo"))
            else DarknetDetectorConfig(
                type="darknet", model=args.model, conf=args.conf, input_size=args.input_size
            )
        )
        fields: dict[str, object] = {
            "detector": detector, "bin_minutes": parse_bin(args.bin), "detect_every": args.detect_every,
            "cameras": {"video": camera},
        }  # fmt: skip
        if args.tiles:
            cols, _, rows = args.tiles.lower().partition("x")
            if not (cols.isdigit() and rows.isdigit()):
                raise InvalidInputError(f"--tiles {args.tiles!r}: expected COLSxROWS, e.g. 2x2")
            fields["tiles"] = (int(cols), int(rows))
        if args.classes:
            fields["classes"] = [c.strip() for c in args.classes.split(",") if c.strip()]
        config = TrafficPipelineConfig(**fields)
    except ValidationError as exc:
        raise ConfigError(f"vigie count: {exc.errors()[0]['msg']} ({exc.errors()[0]['loc']})") from None
    settings = get_settings()
    result = count_video(
        args.video, camera, config, timezone=args.timezone, start_time=utc_start(args.start),
        weights_dir=settings.weights_dir,
    )  # fmt: skip
    rows = write_counts_csv(result, camera, args.out, timezone=args.timezone)
    if args.od:
        with args.od.open("w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(["origin", "destination", "count"])
            for (o, d), n in sorted(result.od.items()):
                w.writerow([o, d, n])
    totals: dict[tuple[str, str, str], int] = {}
    for c in result.crossings:
        totals[(c.line, c.direction, c.class_name)] = totals.get((c.line, c.direction, c.class_name), 0) + 1
    print(f"{result.frames} frames, {len(result.crossings)} crossings, {rows} rows written to {args.out}")
    for (line, direction, cls), n in sorted(totals.items()):
        print(f"  {line} {direction} {cls}: {n}")
    return 0
