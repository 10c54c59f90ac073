"""`vigie plates PATH --out reads.csv`: read the plates of an image, a folder of images or a video.

Images: one row per plate found. Video: plates are tracked (ByteTrack) and voted per track, one row per
vehicle passage, `file_or_frame` naming the best frame (`clip.mp4#frame=123`). No image is stored.
"""

from __future__ import annotations

import argparse
import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from vigie.errors import InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from vigie.pipelines.lapi.reading import PlateObservation, PlateReader
    from vigie.pipelines.lapi.voting import PlatePassage

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".ts", ".webm", ".m4v"}
CSV_COLUMNS = ["file_or_frame", "plate_text", "format", "confidence", "box"]


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "plates",
        help="read licence plates in an image, a folder of images or a video into a CSV file",
        description="Detect and read French licence plates (SIV, FNI; others reported as foreign).",
    )
    p.add_argument("path", type=Path, help="an image, a folder of images, or a video file")
    p.add_argument("--out", type=Path, required=True, help="CSV file to write (reads.csv)")
    p.add_argument("--every", type=int, default=1, help="video: read one frame in N (default 1)")
    p.add_argument(
        "--min-confidence", type=float, default=0.0, help="rows below this read confidence are left out"
    )
    p.add_argument("--device", default="cpu", help="detector device: cpu, cuda, auto (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_plates)


def _box_text(box: tuple[float, float, float, float] | None) -> str:
    return "" if box is None else " ".join(f"{v:.0f}" for v in box)


def _images_in(path: Path) -> list[Path]:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise InvalidInputError(
            f"{path}: no image files ({', '.join(sorted(IMAGE_SUFFIXES))}) in this folder"
        )
    return files


def _build_reader(device: str) -> PlateReader:
    from vigie.pipelines.lapi.reading import PlateReader, PlateReaderConfig
    from vigie.settings import get_settings
    from vigie.vision.detector import UltralyticsDetectorConfig

    config = PlateReaderConfig(
        detector=UltralyticsDetectorConfig(model="plate-yolov8n", conf=0.25, device=device)
    )
    return PlateReader(config, weights_dir=get_settings().weights_dir)


def read_images(
    reader: PlateReader, files: list[Path], *, progress: bool = True
) -> Iterator[tuple[str, PlateObservation | None]]:
    """(file name, read) for every plate of every image; (name, None) for an image without plate."""
    import cv2
    from tqdm import tqdm

    for path in tqdm(files, desc="plates", unit="image", disable=not progress):
        image = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if image is None:
            raise InvalidInputError(f"{path}: not a readable image (expected JPEG/PNG)")
        observations = reader.read(image)
        if not observations:
            yield path.name, None
        for obs in observations:
            yield path.name, obs


def read_video(
    reader: PlateReader, path: Path, *, every: int = 1, progress: bool = True
) -> Iterator[PlatePassage]:
    """One voted passage per tracked plate of a video file."""
    from tqdm import tqdm

    from vigie.pipelines.lapi.voting import PassageVoter
    from vigie.vision.sources import open_source
    from vigie.vision.tracker import ByteTrackConfig, Tracker

    tracker = Tracker(ByteTrackConfig())
    voter = PassageVoter()
    source = open_source("plates-cli", {"type": "file", "path": str(path)})
    with source, tqdm(desc="plates", unit="frame", disable=not progress) as bar:
        for frame in source.frames():
            bar.update(1)
            if frame.sequence % every:
                continue
            now = frame.source_time_s if frame.source_time_s is not None else float(frame.sequence)
            detections = reader.detector.detect(frame).above(reader.config.min_detection_confidence)
            tracked = tracker.update(detections)
            for i in range(len(tracked)):
                obs = reader.read_box(
                    frame.image,
                    tracked.xyxy[i],
                    float(tracked.confidence[i]),
                    captured_at=frame.captured_at,
                    sequence=frame.sequence,
                )
                yield from voter.observe(int(tracked.tracker_id[i]), obs, at=now)
            yield from voter.expire(now)
    yield from voter.flush()


def cmd_plates(args: argparse.Namespace) -> int:
    path: Path = args.path
    if not path.exists():
        raise NotFoundError(f"{path}: no such file or folder")
    if args.every < 1:
        raise InvalidInputError(f"--every must be >= 1, got {args.every}")
    suffix = path.suffix.lower()
    if path.is_file() and suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
        raise InvalidInputError(
            f"{path}: unsupported file type {suffix!r}; expected an image "
            f"({', '.join(sorted(IMAGE_SUFFIXES))}) or a video ({', '.join(sorted(VIDEO_SUFFIXES))})"
        )
    reader = _build_reader(args.device)
    rows: list[list[str]] = []
    progress = not args.no_progress
    if path.is_file() and suffix in VIDEO_SUFFIXES:
        for p in read_video(reader, path, every=args.every, progress=progress):
            if p.text and p.confidence >= args.min_confidence:
                where = f"{path.name}#frame={p.best_sequence}"
                rows.append([where, p.display, p.format, f"{p.confidence:.3f}", _box_text(p.box)])
    else:
        files = _images_in(path) if path.is_dir() else [path]
        for name, obs in read_images(reader, files, progress=progress):
            if obs is None or obs.confidence < args.min_confidence:
                continue
            rows.append([name, obs.display, obs.format, f"{obs.confidence:.3f}", _box_text(obs.box)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(CSV_COLUMNS)
        writer.writerows(rows)
    print(f"{len(rows)} plate read(s) written to {args.out}")
    return 0
