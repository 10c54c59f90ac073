"""Traffic counting benchmark on `traffic/highway-a.avi` against its hand counts.

    python -m vigie.datasets.eval_traffic [--samples ../shared/datasets] [--input-size 608] [--conf 0.1]
    python -m vigie.datasets.eval_traffic --grid [--cache /tmp/traffic-dets]   # every setting tried

Same video, same detections, same tracks, same line: Vigie's `CameraCounter` next to supervision's
`LineZone` (default corner anchors, and the bottom-centre anchor) when supervision is installed
(`pip install --no-deps supervision==0.31.2 pyDeprecate defusedxml`; benchmark only). Ultralytics'
ObjectCounter needs an Ultralytics COCO checkpoint, which no registry reachable offline ships: the column
is skipped unless `--ultralytics-model` names one. Prints a Markdown table of counts and errors per class
and direction, then frames per second: decode only, and each full pipeline (decode + detect + track +
count), at 320×240 and at 1280×720 (the same video upscaled).

`--grid` runs every detector/tracker setting tried for the traffic defaults (input size, confidence with
ByteTrack's low-score association, class-agnostic NMS, tracker buffer and match threshold, tiles) on the
same video and prints counts, errors and track statistics for each. Detections are computed once per input
size at conf 0.05 and filtered for higher thresholds: NMS keeps a box only when no higher-scored box
overlaps it, so filtering after NMS equals running at the higher threshold.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vigie.datasets.metrics import count_errors
from vigie.pipelines.traffic.classes import model_class_ids
from vigie.pipelines.traffic.config import TRACKER_DEFAULTS, LineConfig, TrafficCameraConfig
from vigie.pipelines.traffic.counter import CameraCounter
from vigie.pipelines.traffic.tiling import TiledDetector, agnostic_nms
from vigie.vision.detections import Detections
from vigie.vision.detector import DarknetDetectorConfig, build_detector
from vigie.vision.tracker import ByteTrackConfig, Tracker

TRUTH_CLASS = {"car": "car", "truck": "heavy", "bus": "bus", "motorcycle": "motorcycle", "bicycle": "bicycle",
               "person": "pedestrian"}  # fmt: skip


def load_truth(folder: Path) -> tuple[dict, Counter]:
    meta = json.loads((folder / "highway-a.line.json").read_text(encoding="utf-8"))
    truth: Counter = Counter()
    with (folder / "highway-a.counts.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            truth[(TRUTH_CLASS[row["class"]], row["direction"])] += 1
    return meta, truth


def decode(path: Path, size: tuple[int, int] | None = None) -> tuple[list[np.ndarray], float]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    t0 = time.perf_counter()
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(frame if size is None else cv2.resize(frame, size, interpolation=cv2.INTER_LINEAR))
    elapsed = time.perf_counter() - t0
    cap.release()
    return frames, elapsed


def vigie_count(
    tracked: list[Detections], line: LineConfig, class_map: dict, fps: float
) -> tuple[Counter, float]:
    counter = CameraCounter(TrafficCameraConfig(lines=[line]), class_map=class_map,
                            classes=list(TRUTH_CLASS.values()))  # fmt: skip
    out: Counter = Counter()
    t0 = time.perf_counter()
    for i, dets in enumerate(tracked):
        for c in counter.update(dets, i / fps):
            out[(c.class_name, c.direction)] += 1
    for c in counter.flush():
        out[(c.class_name, c.direction)] += 1
    return out, time.perf_counter() - t0


def supervision_count(
    tracked: list[Detections], line: LineConfig, class_map: dict, anchors: str
) -> tuple[Counter, float]:
    import supervision as sv

    (x1, y1), (x2, y2) = line.points
    positions = (
        [sv.Position.BOTTOM_CENTER] if anchors == "bottom_center"
        else [sv.Position.TOP_LEFT, sv.Position.TOP_RIGHT, sv.Position.BOTTOM_LEFT, sv.Position.BOTTOM_RIGHT]
    )  # fmt: skip
    zone = sv.LineZone(sv.Point(x1, y1), sv.Point(x2, y2), triggering_anchors=positions)
    out: Counter = Counter()
    t0 = time.perf_counter()
    for dets in tracked:
        sv_dets = sv.Detections(xyxy=dets.xyxy.astype(np.float32), confidence=dets.confidence,
                                class_id=dets.class_id, tracker_id=dets.tracker_id)  # fmt: skip
        crossed_in, crossed_out = zone.trigger(sv_dets)
        # LineZone's "in" is our "out" for this line drawn left to right (checked on synthetic tracks: a point
        # moving up across a left→right line is counted `in` by supervision and `out` by the hand counts).
        for cid, flag in zip(dets.class_id.tolist(), crossed_in.tolist(), strict=True):
            if flag:
                out[(_label(class_map[cid]), "out")] += 1
        for cid, flag in zip(dets.class_id.tolist(), crossed_out.tolist(), strict=True):
            if flag:
                out[(_label(class_map[cid]), "in")] += 1
    return out, time.perf_counter() - t0


def _label(provisional: str) -> str:
    return "heavy" if provisional == "truck" else provisional


def line_for(meta: dict, size: tuple[int, int]) -> LineConfig:
    sx, sy = size[0] / meta["frame_size"][0], size[1] / meta["frame_size"][1]
    (ax, ay), (bx, by) = meta["line"]
    return LineConfig(name="hw", points=((ax * sx, ay * sy), (bx * sx, by * sy)), lanes=4)


def detect_all(
    frames: list[np.ndarray], *, input_size: int, conf: float, tiles: tuple[int, int] | None = None
) -> tuple[list[Detections], float, dict]:
    """Road-user detections of every frame, and the detector's ms/frame (measured alone)."""
    detector = build_detector(
        DarknetDetectorConfig(model="coco-yolov4-tiny", input_size=input_size, conf=conf)
    )
    class_map = model_class_ids(detector.names)
    if tiles is not None:
        detector = TiledDetector(detector, grid=tiles)  # type: ignore[assignment]
    detector.detect(frames[0])  # warm-up
    h, w = frames[0].shape[:2]
    detections, t0 = [], time.perf_counter()
    for frame in tqdm(frames, desc=f"detect {w}x{h} @{input_size} tiles={tiles}", unit="frame"):
        detections.append(detector.detect(frame).only_classes(class_map))
    return detections, 1000 * (time.perf_counter() - t0) / len(frames), class_map


def track_all(detections: list[Detections], fps: float, settings: dict) -> tuple[list[Detections], float]:
    tracker = Tracker(ByteTrackConfig(frame_rate=fps, **(TRACKER_DEFAULTS | settings)))
    tracked, t0 = [], time.perf_counter()
    for dets in detections:
        tracked.append(tracker.update(dets))
    return tracked, time.perf_counter() - t0


def run(samples: Path, *, input_size: int, conf: float, nms_iou: float | None,
        scale: tuple[int, int] | None, cache: Path | None = None) -> dict:  # fmt: skip
    folder = samples / "traffic"
    meta, truth = load_truth(folder)
    frames, decode_s = decode(folder / "highway-a.avi", scale)
    h, w = frames[0].shape[:2]
    line = line_for(meta, (w, h))
    fps = float(meta["fps"])
    path = cache / f"highway-a-{input_size}-None.npz" if cache is not None and scale is None else None
    if path is not None and path.is_file():  # the grid's detections (conf 0.05), filtered
        raw, detect_ms, class_map = load_cached(path, len(frames))
        detections = [d[d.confidence >= conf] for d in raw]
    else:
        detections, detect_ms, class_map = detect_all(frames, input_size=input_size, conf=conf)
    t0 = time.perf_counter()
    if nms_iou is not None:
        detections = [agnostic_nms(d, nms_iou) for d in detections]
    nms_s = time.perf_counter() - t0
    tracked, track_s = track_all(detections, fps, {})
    base_s = decode_s + len(frames) * detect_ms / 1000 + nms_s + track_s
    setting = f"input {input_size}, conf {conf}, agnostic NMS {nms_iou}"
    results = {"truth": truth, "frames": len(frames), "size": (w, h), "decode_fps": len(frames) / decode_s,
               "detect_ms": detect_ms, "setting": setting}  # fmt: skip
    counts, count_s = vigie_count(tracked, line, class_map, fps)
    results["vigie"] = (counts, len(frames) / (base_s + count_s), count_s)
    try:
        import supervision  # noqa: F401
    except ImportError:
        print("supervision is not installed: its column is skipped")
    else:
        for anchors in ("corners", "bottom_center"):
            counts, count_s = supervision_count(tracked, line, class_map, anchors)
            results[f"supervision LineZone ({anchors})"] = (counts, len(frames) / (base_s + count_s), count_s)
    return results


def report(results: dict) -> str:
    truth = results["truth"]
    methods = [k for k in results if k == "vigie" or k.startswith("supervision")]
    keys = list(truth) + sorted({k for m in methods for k in results[m][0] if k not in truth})
    w, h = results["size"]
    lines = [f"{results['setting']}. Video {w}×{h}, {results['frames']} frames; decode only "
             f"{results['decode_fps']:.0f} frames/s; detector {results['detect_ms']:.0f} ms/frame", "",
             "| class, direction | hand count | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]  # fmt: skip
    errs = {m: count_errors(dict(results[m][0]), dict(truth)) for m in methods}
    for key in keys:
        cells = []
        for m in methods:
            e = errs[m].per_key.get(key)
            if e is None:  # a key counted by another method only
                cells.append("0")
                continue
            rel = f" ({(e.predicted - e.truth) / e.truth:+.0%})" if e.truth else ""
            cells.append(f"{e.predicted}{rel}")
        lines.append(f"| {key[0]}, {key[1]} | {truth.get(key, 0)} | " + " | ".join(cells) + " |")
    abs_err = {m: sum(abs(e.predicted - e.truth) for e in errs[m].per_key.values()) for m in methods}
    tot = [f"{errs[m].total.predicted} (abs. err. {abs_err[m]})" for m in methods]
    lines.append(f"| all | {sum(truth.values())} | " + " | ".join(tot) + " |")
    lines.append("| full pipeline frames/s | | " + " | ".join(f"{results[m][1]:.1f}" for m in methods) + " |")
    stage_ms = [f"{1000 * results[m][2] / results['frames']:.3f}" for m in methods]
    lines.append("| counting stage ms/frame | | " + " | ".join(stage_ms) + " |")
    return "\n".join(lines)


def load_cached(path: Path, n_frames: int) -> tuple[list[Detections], float, dict]:
    z = np.load(path)
    raw = [Detections(xyxy=z[f"b{i}"], confidence=z[f"c{i}"], class_id=z[f"k{i}"]) for i in range(n_frames)]
    return raw, float(z["ms"]), {int(k): str(v) for k, v in zip(z["ids"], z["labels"], strict=True)}


GRID_TRACKERS: list[dict] = [
    {},
    {"track_buffer": 45},  # 3 s instead of 2 s
    {"match_thresh": 0.9},  # accept matches down to IoU 0.1 (fast small vehicles at 15 fps)
]


def grid(samples: Path, cache: Path | None, sizes: list[int], tiles: list[int]) -> str:
    """Every setting tried: counts, absolute error, tracks and their median length (frames)."""
    folder = samples / "traffic"
    meta, truth = load_truth(folder)
    frames, _ = decode(folder / "highway-a.avi")
    fps = float(meta["fps"])
    line = line_for(meta, (frames[0].shape[1], frames[0].shape[0]))
    rows = ["| input | tiles | conf (= track_low_thresh) | agnostic NMS | tracker | detector ms/frame "
            "| boxes/frame | tracks | median track length | car out | heavy out | total (abs. err.) |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    variants = [(size, None) for size in sizes] + [(size, (2, 2)) for size in tiles]
    for size, tile in variants:
        path = cache / f"highway-a-{size}-{tile}.npz" if cache else None
        if path is not None and path.is_file():
            z = np.load(path)
            raw = [
                Detections(xyxy=z[f"b{i}"], confidence=z[f"c{i}"], class_id=z[f"k{i}"])
                for i in range(len(frames))
            ]
            detect_ms, class_map = (
                float(z["ms"]),
                {int(k): str(v) for k, v in zip(z["ids"], z["labels"], strict=True)},
            )
        else:
            raw, detect_ms, class_map = detect_all(frames, input_size=size, conf=0.05, tiles=tile)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                arrays = {f"{k}{i}": getattr(d, a) for i, d in enumerate(raw)
                          for k, a in (("b", "xyxy"), ("c", "confidence"), ("k", "class_id"))}  # fmt: skip
                np.savez(path, ms=detect_ms, ids=list(class_map), labels=list(class_map.values()), **arrays)
        for conf in (0.2, 0.1, 0.05):
            for nms_iou in (None, 0.7):
                dets = [d[d.confidence >= conf] for d in raw]
                if nms_iou is not None:
                    dets = [agnostic_nms(d, nms_iou) for d in dets]
                for settings in GRID_TRACKERS:
                    tracked, _ = track_all(dets, fps, {"track_low_thresh": min(conf, 0.1)} | settings)
                    lengths = Counter(t for d in tracked for t in d.tracker_id.tolist())
                    counts, _ = vigie_count(tracked, line, class_map, fps)
                    err = sum(abs(counts.get(k, 0) - truth.get(k, 0)) for k in set(counts) | set(truth))
                    rows.append(
                        f"| {size} | {tile or ''} | {conf} | {nms_iou or ''} | {settings or 'default'} "
                        f"| {detect_ms:.0f} | {np.mean([len(d) for d in dets]):.2f} | {len(lengths)} "
                        f"| {np.median(list(lengths.values())):.0f} | {counts.get(('car', 'out'), 0)} "
                        f"| {counts.get(('heavy', 'out'), 0)} | {sum(counts.values())} ({err}) |"
                    )
                    print(rows[-1], flush=True)
    return "\n".join(rows)


def time_detectors(samples: Path, sizes: list[int], tiles: list[int], n: int = 100) -> str:
    """Detector ms/frame alone (median of `n` frames, after a warm-up), each setting one after the other."""
    frames, _ = decode(samples / "traffic" / "highway-a.avi")
    out = [f"detector alone, median ms/frame over {n} frames (os.getloadavg: {os.getloadavg()[0]:.1f})"]
    for size, tile in [(s, None) for s in sizes] + [(s, (2, 2)) for s in tiles]:
        detector = build_detector(DarknetDetectorConfig(model="coco-yolov4-tiny", input_size=size, conf=0.1))
        if tile is not None:
            detector = TiledDetector(detector, grid=tile)  # type: ignore[assignment]
        detector.detect(frames[0])
        times = []
        for frame in tqdm(frames[:n], desc=f"time @{size} tiles={tile}", unit="frame"):
            t0 = time.perf_counter()
            detector.detect(frame)
            times.append(1000 * (time.perf_counter() - t0))
        out.append(f"input {size}, tiles {tile}: {np.median(times):.0f} ms/frame")
    out.append(f"(load average after: {os.getloadavg()[0]:.1f})")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    from vigie.pipelines.traffic.config import TrafficPipelineConfig

    defaults = TrafficPipelineConfig.model_fields
    detector_default = defaults["detector"].default_factory()  # type: ignore[misc]
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--samples", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    p.add_argument("--input-size", type=int, default=detector_default.input_size)
    p.add_argument("--conf", type=float, default=detector_default.conf)
    p.add_argument("--nms-iou", type=float, default=defaults["agnostic_nms_iou"].default,
                   help="class-agnostic NMS overlap (0 = off)")  # fmt: skip
    p.add_argument("--hd", action="store_true", help="also run on the video upscaled to 1280×720")
    p.add_argument("--grid", action="store_true", help="run every setting tried (see the module docstring)")
    p.add_argument("--sizes", default="416,608,832", help="input sizes of the grid")
    p.add_argument("--tiles", default="416", help="input sizes run on 2×2 tiles in the grid ('' = none)")
    p.add_argument("--cache", type=Path, help="folder caching the grid's detections")
    p.add_argument("--time", action="store_true", help="time the detector alone for the grid's sizes")
    args = p.parse_args(argv)
    print(f"cv2 threads: {cv2.getNumThreads()}")
    if args.time:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        print(time_detectors(args.samples, sizes, [int(x) for x in args.tiles.split(",") if x]))
        return 0
    if args.grid:
        sizes = [int(x) for x in args.sizes.split(",") if x]
        tiles = [int(x) for x in args.tiles.split(",") if x]
        print(grid(args.samples, args.cache, sizes, tiles))
        return 0
    nms_iou = args.nms_iou or None
    for scale in (None, (1280, 720)) if args.hd else (None,):
        print(
            report(
                run(
                    args.samples,
                    input_size=args.input_size,
                    conf=args.conf,
                    nms_iou=nms_iou,
                    scale=scale,
                    cache=args.cache,
                )
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
