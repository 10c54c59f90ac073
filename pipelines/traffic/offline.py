"""Count a video file without a database (`vigie count`): crossings and binned counts in memory."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from tqdm import tqdm

from vigie.errors import InvalidInputError
from vigie.pipelines.traffic.bins import period_of
from vigie.pipelines.traffic.classes import model_class_ids
from vigie.pipelines.traffic.config import (
    TRACKER_DEFAULTS,
    LineConfig,
    TrafficCameraConfig,
    TrafficPipelineConfig,
)
from vigie.pipelines.traffic.counter import CameraCounter, CountedCrossing
from vigie.pipelines.traffic.tiling import TiledDetector, agnostic_nms
from vigie.vision.detector import Detector, build_detector


def parse_line_arg(text: str, index: int) -> LineConfig:
    """'x1,y1,x2,y2[:name]' → a LineConfig (named line-N when no name is given)."""
    coords, _, name = text.partition(":")
    parts = coords.split(",")
    try:
        x1, y1, x2, y2 = (float(p) for p in parts)
    except ValueError:
        raise InvalidInputError(f"--line {text!r}: expected x1,y1,x2,y2[:name] with four numbers") from None
    return LineConfig(name=name or f"line-{index + 1}", points=((x1, y1), (x2, y2)))


@dataclass
class CountResult:
    crossings: list[CountedCrossing]
    bins: dict[tuple[datetime, str, str, str], int]  # (period start, line, direction, class) → count
    periods: dict[datetime, tuple[datetime, bool]]  # period start → (end, partial)
    frames: int
    start: datetime
    od: Counter[tuple[str, str]] = field(default_factory=Counter)


def count_video(
    path: Path,
    camera: TrafficCameraConfig,
    config: TrafficPipelineConfig,
    *,
    timezone: str = "Europe/Paris",
    start_time: datetime | None = None,
    weights_dir: Path | None = None,
    detector: Detector | None = None,
    progress: bool = True,
) -> CountResult:
    from vigie.vision.source_config import FileSourceConfig
    from vigie.vision.sources import open_source
    from vigie.vision.tracker import ByteTrackConfig, Tracker

    detector = detector or build_detector(config.detector, weights_dir=weights_dir)
    if config.tiles is not None:
        detector = TiledDetector(detector, grid=config.tiles)  # type: ignore[assignment]
    class_map = model_class_ids(detector.names)
    tracker = Tracker(ByteTrackConfig(**(config.tracker or TRACKER_DEFAULTS)))
    source = open_source("count", FileSourceConfig(type="file", path=path, start_time=start_time))
    counter: CameraCounter | None = None
    crossings: list[CountedCrossing] = []
    first: datetime | None = None
    last: datetime | None = None
    last_processed: datetime | None = None
    frames = 0
    try:
        total = _frame_count(path)
        for frame in tqdm(
            source.frames(), total=total, desc=f"count {path.name}", unit="frame", disable=not progress
        ):
            if frame is None:
                continue
            if counter is None:
                counter = CameraCounter(
                    camera, class_map=class_map, classes=config.classes,
                    heavy_min_lanes=config.heavy_min_lanes,
                    vote_delay_s=config.vote_delay_s, track_ttl_s=config.track_ttl_s,
                    frame_size=(frame.width, frame.height),
                )  # fmt: skip
                first = frame.captured_at
            frames += 1
            last = frame.captured_at
            if (frames - 1) % config.detect_every:
                continue
            dets = detector.detect(frame)
            dets = dets.only_classes(class_map)
            if config.agnostic_nms_iou is not None:
                dets = agnostic_nms(dets, config.agnostic_nms_iou)
            dt = None if last_processed is None else (frame.captured_at - last_processed).total_seconds()
            if dt is not None and dt <= 0:
                continue
            last_processed = frame.captured_at
            assert first is not None
            crossings += counter.update(
                tracker.update(dets, dt_s=dt), (frame.captured_at - first).total_seconds()
            )
    finally:
        source.close()
    if counter is None or first is None or last is None:
        raise InvalidInputError(f"video {path}: no frame could be decoded; expected a video with frames")
    crossings += counter.flush()
    tz = ZoneInfo(timezone)
    bins: dict[tuple[datetime, str, str, str], int] = {}
    periods: dict[datetime, tuple[datetime, bool]] = {}
    t = period_of(first, config.bin_minutes, tz)[0]
    while t <= last:
        start, end = period_of(t, config.bin_minutes, tz)
        periods[start] = (end, first > start or last < end - timedelta(seconds=config.max_gap_s))
        for line in camera.lines:
            for direction in line.directions:
                for cls in config.classes:
                    bins[(start, line.name, direction, cls)] = 0
        t = end
    for c in crossings:
        start, _ = period_of(first + timedelta(seconds=c.time_s), config.bin_minutes, tz)
        bins[(start, c.line, c.direction, c.class_name)] = (
            bins.get((start, c.line, c.direction, c.class_name), 0) + 1
        )
    return CountResult(crossings, bins, periods, frames, first, counter.od.flush())


def _frame_count(path: Path) -> int | None:
    import av

    try:
        with av.open(str(path)) as container:
            return container.streams.video[0].frames or None
    except (av.error.FFmpegError, IndexError):
        return None


def write_counts_csv(result: CountResult, camera: TrafficCameraConfig, out: Path, *, timezone: str) -> int:
    """Long-format CSV: line, direction, direction label, class, period start/end (ISO 8601, local), count,
    partial. Returns the number of rows."""
    tz = ZoneInfo(timezone)
    labels = {line.name: line.labels for line in camera.lines}
    rows = 0
    with out.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "line",
                "direction",
                "direction_label",
                "class",
                "period_start",
                "period_end",
                "count",
                "partial",
            ]
        )
        for (start, line, direction, cls), n in sorted(result.bins.items()):
            end, partial = result.periods[start]
            writer.writerow([
                line, direction, labels.get(line, {}).get(direction, ""), cls,
                start.astimezone(tz).isoformat(), end.astimezone(tz).isoformat(), n, str(partial).lower(),
            ])  # fmt: skip
            rows += 1
    return rows


def utc_start(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInputError(
            f"--start {value!r}: expected an ISO 8601 time, e.g. 2026-11-28T08:00:00+01:00"
        ) from None
    if t.tzinfo is None:
        raise InvalidInputError(f"--start {value!r}: give a UTC offset, e.g. 2026-11-28T08:00:00+01:00")
    return t.astimezone(UTC)
