"""Traffic counting benchmark on `traffic/highway-a.avi` against its hand counts.

    python -m vigie.datasets.eval_traffic [--samples ../shared/datasets] [--input-size 416] [--conf 0.2]

Same video, same detections, same tracks, same line: Vigie's `CameraCounter` next to supervision's
`LineZone` (default corner anchors, and the bottom-centre anchor) when supervision is installed
(`pip install --no-deps supervision==0.31.2 pyDeprecate defusedxml`; benchmark only). Ultralytics'
ObjectCounter needs an Ultralytics COCO checkpoint, which no registry reachable offline ships: the column
is skipped unless `--ultralytics-model` names one. Prints a Markdown table of counts and errors per class
and direction, then frames per second: decode only, and each full pipeline (decode + detect + track +
count), at 320×240 and at 1280×720 (the same video upscaled).
"""

from __future__ import annotations

import argparse
import csv
import json
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


def run(samples: Path, *, input_size: int, conf: float, scale: tuple[int, int] | None) -> dict:
    folder = samples / "traffic"
    meta, truth = load_truth(folder)
    frames, decode_s = decode(folder / "highway-a.avi", scale)
    h, w = frames[0].shape[:2]
    sx, sy = w / meta["frame_size"][0], h / meta["frame_size"][1]
    (ax, ay), (bx, by) = meta["line"]
    line = LineConfig(name="hw", points=((ax * sx, ay * sy), (bx * sx, by * sy)), lanes=4)
    fps = float(meta["fps"])
    detector = build_detector(
        DarknetDetectorConfig(model="coco-yolov4-tiny", input_size=input_size, conf=conf)
    )
    class_map = model_class_ids(detector.names)
    detector.detect(frames[0])  # warm-up
    detections, t0 = [], time.perf_counter()
    for frame in tqdm(frames, desc=f"detect {w}x{h}", unit="frame"):
        detections.append(detector.detect(frame).only_classes(class_map))
    detect_s = time.perf_counter() - t0
    tracker = Tracker(ByteTrackConfig(frame_rate=fps, **TRACKER_DEFAULTS))
    tracked, t0 = [], time.perf_counter()
    for dets in detections:
        tracked.append(tracker.update(dets))
    track_s = time.perf_counter() - t0
    base_s = decode_s + detect_s + track_s
    results = {"truth": truth, "frames": len(frames), "size": (w, h), "decode_fps": len(frames) / decode_s,
               "detect_ms": 1000 * detect_s / len(frames)}  # fmt: skip
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
    lines = [f"Video {results['size'][0]}×{results['size'][1]}, {results['frames']} frames; decode only "
             f"{results['decode_fps']:.0f} frames/s; detector {results['detect_ms']:.0f} ms/frame", "",
             "| class, direction | hand count | " + " | ".join(methods) + " |",
             "|---|---|" + "---|" * len(methods)]  # fmt: skip
    errs = {m: count_errors(dict(results[m][0]), dict(truth)) for m in methods}
    for key in keys:
        cells = []
        for m in methods:
            e = errs[m].per_key[key]
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--samples", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    p.add_argument("--input-size", type=int, default=416)
    p.add_argument("--conf", type=float, default=0.2)
    p.add_argument("--hd", action="store_true", help="also run on the video upscaled to 1280×720")
    args = p.parse_args(argv)
    print(f"cv2 threads: {cv2.getNumThreads()}")
    print(report(run(args.samples, input_size=args.input_size, conf=args.conf, scale=None)))
    if args.hd:
        print(report(run(args.samples, input_size=args.input_size, conf=args.conf, scale=(1280, 720))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
