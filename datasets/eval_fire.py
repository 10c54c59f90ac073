"""Evaluate the wildfire pipeline on the shared data; prints Markdown tables for docs/BENCHMARKS.md.

    python -m vigie.datasets.eval_fire --data ../shared/datasets [--parts images,sequences,throughput]

1. images: per-image precision/recall for smoke and fire on `smoke/hpwren` (+ negatives) and the
   `smoke/fire8` valid split (class `default` = a negative frame), plus box-level P/R at IoU 0.5.
2. sequences: the real plume composited onto the real lookout background at known start frames, several
   positions and scales, one frame per 10 s → time-to-detect (frames, seconds) of the full pipeline
   (confirmation included); negative sequences → false alerts per camera-hour.
3. throughput: per-frame cost of the pipeline's detector, torch vs ONNX, 1x1 and 2x1 tiling → cameras
   one worker sustains at one frame per 10 s per camera.
4. small: distant plumes — the real plume composited at small scales into 1920x1080 frames (the lookout
   background upscaled), per-frame recall and false positives of 1x1 at 640, 1x1 at 1280 and tiled grids
   at 640, with the detector's ms per frame for each.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vigie.datasets.labels import LabelledImage, remap_classes
from vigie.datasets.metrics import image_precision_recall, precision_recall
from vigie.datasets.yolo import load_yolo, read_yolo_names
from vigie.errors import InvalidInputError
from vigie.pipelines.base import CameraContext
from vigie.pipelines.fire.composite import (
    BACKGROUND_VIDEO,
    Plume,
    composite,
    read_video,
    synthetic_sequence,
)
from vigie.pipelines.fire.config import FirePipelineConfig, TilingConfig
from vigie.pipelines.fire.geometry import CameraGeometry
from vigie.pipelines.fire.pipeline import FirePipeline
from vigie.pipelines.fire.tiling import detect_tiled
from vigie.vision.detections import box_iou
from vigie.vision.detector import Detector, UltralyticsDetectorConfig, build_detector
from vigie.vision.frame import Frame

MODEL = "fire-smoke-yolov8"
INTERVAL_S = 10.0


# --- 1. labelled images ---------------------------------------------------------------------------------


def labelled_sets(data: Path, names: dict[int, str]) -> dict[str, list[LabelledImage]]:
    smoke = data / "smoke"
    hpwren = load_yolo(smoke / "hpwren" / "images", smoke / "hpwren" / "labels", ["smoke"])
    hpwren += load_yolo(smoke / "hpwren" / "negatives", None, ["smoke"])
    fire8_names = read_yolo_names(smoke / "fire8" / "data.yaml")
    fire8 = load_yolo(
        smoke / "fire8" / "valid" / "images",
        smoke / "fire8" / "valid" / "labels",
        fire8_names,
        drop_classes=["default"],
    )
    ids = {v: k for k, v in names.items()}
    return {
        "hpwren + negatives": remap_classes(hpwren, {"smoke": ids["smoke"]}, names),
        "fire8 valid": remap_classes(fire8, {"smoke": ids["smoke"], "fire": ids["fire"]}, names),
    }


def eval_images(detector: Detector, data: Path, min_confidence: float) -> list[str]:
    import cv2

    rows = [
        "| set | images | class | image precision | image recall | box P @0.5 | box R @0.5 |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, images in labelled_sets(data, detector.names).items():
        preds = []
        for img in tqdm(images, desc=f"images: {name}", unit="img"):
            preds.append(detector.detect(cv2.imread(str(img.image_path), cv2.IMREAD_COLOR)))
        per_image = image_precision_recall(
            preds, images, classes=list(detector.names), min_confidence=min_confidence
        )
        boxes = precision_recall(preds, images, 0.5, min_confidence=min_confidence)
        for cid, cname in detector.names.items():
            counts = per_image.per_class[cid]
            with_class = sum(int((img.class_ids == cid).any()) for img in images)
            if with_class == 0 and counts.fp == 0:
                continue
            box = boxes.per_class.get(cid)
            rows.append(
                f"| {name} | {len(images)} ({with_class} with {cname}) | {cname} | {_pct(counts.precision)} "
                f"({counts.tp}/{counts.tp + counts.fp}) | {_pct(counts.recall)} "
                f"({counts.tp}/{counts.tp + counts.fn}) "
                f"| {_pct(box.precision) if box else '–'} | {_pct(box.recall) if box else '–'} |"
            )
    return rows


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.0f} %"


def _ratio(hits: int, total: int) -> str:
    return f"{_pct(hits / total) if total else 'n/a'} ({hits}/{total})"


# --- 2. composited sequences ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    base_x: float
    base_y: float
    scale: float
    start: int | None  # None: negative


def scenarios() -> list[Scenario]:
    out = []
    for label, x, y in (("valley", 820.0, 450.0), ("far ridge", 300.0, 330.0)):
        for scale in (0.25, 0.5, 0.8):
            out.append(Scenario(f"{label}, scale {scale}", x, y, scale, start=3))
    return out


def run_sequence(pipeline: FirePipeline, frames, camera: CameraContext) -> tuple[int | None, list]:
    """Feed a sequence; return the index of the first alert frame and (frame, truth box, alert box)s."""
    first = None
    alert_boxes = []
    for f in frames:
        frame = Frame(image=f.image, camera_id=camera.slug, captured_at=f.captured_at, sequence=f.index)
        pipeline.process(camera, frame)  # writes are not applied: the pipeline's own state is what we measure
        result = pipeline.last_result
        if result is not None and result.alerts:
            if first is None:
                first = f.index
            for pid in result.alerts:
                event = next(e for e in pipeline.registry.events if e.public_id == pid)
                alert_boxes.append((f.index, f.box, event.sightings[camera.camera_id].xyxy))
    return first, alert_boxes


def eval_sequences(detector: Detector, data: Path, frames: int, negative_frames: int) -> list[str]:
    folder = data / "smoke" / "pyronear-synthetic"
    plume = Plume.load(folder)
    backgrounds = read_video(folder / BACKGROUND_VIDEO)
    camera = CameraContext(camera_id=1, slug="eval", site_id=1)
    geometry = {
        "eval": CameraGeometry(
            camera_id=1,
            slug="eval",
            site_id=1,
            longitude=0.2,
            latitude=47.9,
            heading_deg=180.0,
            hfov_deg=60.0,
        )
    }
    t0 = datetime(2026, 7, 14, 12, tzinfo=UTC)
    rows = [
        "| sequence (plume base, scale) | start frame | alert at frame | time to detect | box on plume |",
        "|---|---|---|---|---|",
    ]
    delays = []
    for sc in tqdm(scenarios(), desc="sequences", unit="seq"):
        pipeline = FirePipeline(FirePipelineConfig(danger_level=3), detector, cameras=geometry)
        seq = synthetic_sequence(
            backgrounds,
            plume,
            frames=frames,
            start=sc.start,
            base_x=sc.base_x,
            base_y=sc.base_y,
            scale=sc.scale,
            interval_s=INTERVAL_S,
            t0=t0,
        )
        first, boxes = run_sequence(pipeline, seq, camera)
        on_plume = all(
            truth is not None and box_iou(np.array(truth), np.array(box))[0, 0] > 0.1
            for _, truth, box in boxes
        )
        if first is None:
            rows.append(f"| {sc.name} ({sc.base_x:.0f}, {sc.base_y:.0f}) | {sc.start} | missed | – | – |")
            continue
        delay = first - sc.start
        delays.append(delay)
        rows.append(
            f"| {sc.name} ({sc.base_x:.0f}, {sc.base_y:.0f}) | {sc.start} | {first} | {delay} frames = "
            f"{delay * INTERVAL_S:.0f} s | {'yes' if on_plume else 'no'} |"
        )
    rows.append("")
    # Negatives: the background alone, one frame per 10 s; every alert is a false alert.
    pipeline = FirePipeline(FirePipelineConfig(danger_level=3), detector, cameras=geometry)
    seq = synthetic_sequence(
        backgrounds,
        None,
        frames=negative_frames,
        start=None,
        base_x=0,
        base_y=0,
        scale=1,
        interval_s=INTERVAL_S,
        t0=t0,
    )
    false_alerts = set()
    detections = 0
    for f in tqdm(seq, total=negative_frames, desc="negative sequence", unit="frame"):
        frame = Frame(image=f.image, camera_id="eval", captured_at=f.captured_at, sequence=f.index)
        pipeline.process(camera, frame)
        detections += len(pipeline.last_result.detections)
        false_alerts.update(pipeline.last_result.alerts)
    hours = negative_frames * INTERVAL_S / 3600
    skipped = dict(pipeline.quality.skipped)
    rows.append(
        f"Negative sequence: {negative_frames} frames ({hours:.2f} camera-hours at one frame per 10 s): "
        f"{detections} detections, {len(false_alerts)} false alerts = "
        f"{len(false_alerts) / hours:.1f} false alerts "
        f"per camera-hour; frames skipped by quality checks: {skipped or 'none'}."
    )
    if delays:
        rows.append(
            f"Median time to detect over detected sequences: {statistics.median(delays) * INTERVAL_S:.0f} s."
        )
    return rows


# --- 4. small distant plumes in 1920x1080 frames ------------------------------------------------------

FULL_HD = (1920, 1080)
# Plume bases (1920x1080 pixels) on the distant ridges and valley floor, left, centre (in the 2x1 tile
# overlap) and right; plume video frames from a young to a fully grown plume.
SMALL_BASES = ((420.0, 470.0), (960.0, 520.0), (1450.0, 560.0))
SMALL_PLUME_FRAMES = (60, 100, 140, 179)
SMALL_SCALES = (0.06, 0.1, 0.15, 0.25)
SMALL_VARIANTS = ("1x1@640", "1x1@1280", "2x1@640", "2x2@640", "3x2@640")


@dataclass(frozen=True, slots=True)
class SmallFrame:
    image: np.ndarray
    scale: float | None  # None: a negative frame
    box: tuple[float, float, float, float] | None


def small_plume_frames(data: Path, scales: Sequence[float]) -> list[SmallFrame]:
    """Positive frames (each scale x base x plume stage, on varying backgrounds) and the negatives."""
    import cv2

    folder = data / "smoke" / "pyronear-synthetic"
    plume = Plume.load(folder)
    backgrounds = [
        cv2.resize(bg, FULL_HD, interpolation=cv2.INTER_CUBIC) for bg in read_video(folder / BACKGROUND_VIDEO)
    ]
    frames = []
    n = 0
    for scale in scales:
        for base_x, base_y in SMALL_BASES:
            for k in SMALL_PLUME_FRAMES:
                bg = backgrounds[n % len(backgrounds)]
                n += 1
                image, box = composite(bg, plume, k, base_x=base_x, base_y=base_y, scale=scale)
                if box is not None:
                    frames.append(SmallFrame(image=image, scale=scale, box=box))
    frames += [SmallFrame(image=bg, scale=None, box=None) for bg in backgrounds]
    return frames


def matches_plume(xyxy: np.ndarray, truth: tuple[float, float, float, float]) -> np.ndarray:
    """Boxes on the plume: IoU > 0.1 with its box, or centre inside it (a tiny plume's box is loose)."""
    t = np.array(truth, dtype=np.float32)
    if not len(xyxy):
        return np.zeros(0, dtype=bool)
    iou = box_iou(xyxy, t)[:, 0]
    cx = (xyxy[:, 0] + xyxy[:, 2]) / 2
    cy = (xyxy[:, 1] + xyxy[:, 3]) / 2
    inside = (cx >= t[0]) & (cx <= t[2]) & (cy >= t[1]) & (cy <= t[3])
    return (iou > 0.1) | inside


def eval_small(
    data: Path,
    weights_dir: Path | None,
    min_confidence: float,
    variants: Sequence[str] = SMALL_VARIANTS,
    scales: Sequence[float] = SMALL_SCALES,
) -> list[str]:
    frames = small_plume_frames(data, scales)
    positives = [f for f in frames if f.box is not None]
    negatives = [f for f in frames if f.box is None]
    sizes = {
        s: statistics.median(
            [f.box[3] - f.box[1] for f in positives if f.scale == s]  # type: ignore[index]
        )
        for s in scales
    }
    detectors: dict[int, Detector] = {}
    rows = [
        "| tiling @ input | passes / frame | "
        + " | ".join(f"recall, scale {s} (plume ~{sizes[s]:.0f} px tall)" for s in scales)
        + " | recall, all | false boxes / positive frame | false boxes / negative frame | ms / frame |",
        "|---|---|" + "---|" * len(scales) + "---|---|---|---|",
    ]
    for variant in variants:
        grid, imgsz = variant.split("@")
        if int(imgsz) not in detectors:
            detectors[int(imgsz)] = build_detector(
                UltralyticsDetectorConfig(model=MODEL, imgsz=int(imgsz), device="cpu", conf=0.15),
                weights_dir=weights_dir,
            )
        detector = detectors[int(imgsz)]
        tiling = TilingConfig(grid=grid)
        smoke_ids = [i for i, n in detector.names.items() if n in ("smoke", "fire")]
        detect_tiled(detector, frames[0].image, tiling)  # warm-up
        hits: dict[float, list[bool]] = {s: [] for s in scales}
        false_pos = {"pos": 0, "neg": 0}
        times = []
        passes = 1
        for f in tqdm(frames, desc=f"small plumes {variant}", unit="frame"):
            t = time.perf_counter()
            dets = detect_tiled(detector, f.image, tiling)
            times.append(time.perf_counter() - t)
            passes = int(dets.metadata.get("tiles", 1))
            keep = np.isin(dets.class_id, smoke_ids) & (dets.confidence >= min_confidence)
            xyxy = dets.xyxy[keep]
            if f.box is None:
                false_pos["neg"] += len(xyxy)
                continue
            on = matches_plume(xyxy, f.box)
            hits[f.scale].append(bool(on.any()))  # type: ignore[index]
            false_pos["pos"] += int((~on).sum())
        found = sum(sum(h) for h in hits.values())
        rows.append(
            f"| {grid} @ {imgsz} | {passes} | "
            + " | ".join(_ratio(sum(hits[s]), len(hits[s])) for s in scales)
            + f" | {_ratio(found, len(positives))} "
            f"| {false_pos['pos'] / len(positives):.2f} | {false_pos['neg'] / len(negatives):.2f} "
            f"| {1000 * statistics.median(times):.0f} |"
        )
        tqdm.write(rows[-1], file=sys.stderr)  # a long run shows each row as soon as it is measured
    rows.append("")
    rows.append(
        f"{len(positives)} positive frames ({len(SMALL_BASES)} plume bases x {len(SMALL_PLUME_FRAMES)} plume "
        f"stages per scale, varying backgrounds) and {len(negatives)} negative frames, 1920x1080; "
        f"boxes counted at confidence >= {min_confidence}."
    )
    return rows


# --- 3. throughput --------------------------------------------------------------------------------------


def eval_throughput(data: Path, repeats: int, weights_dir: Path | None) -> list[str]:
    from vigie.vision.export import export_model

    folder = data / "smoke" / "pyronear-synthetic"
    images = read_video(folder / BACKGROUND_VIDEO)[:4]
    onnx = export_model(MODEL, "onnx", imgsz=640, device="cpu", weights_dir=weights_dir)
    variants = {
        "torch (.pt)": UltralyticsDetectorConfig(model=MODEL, imgsz=640, device="cpu", conf=0.15),
        "ONNX": UltralyticsDetectorConfig(model=str(onnx), imgsz=640, device="cpu", conf=0.15),
    }
    rows = [
        "| runtime | tiling | passes / frame | ms per frame (median) | cameras per worker, 1 frame / 10 s |",
        "|---|---|---|---|---|",
    ]
    for label, cfg in variants.items():
        detector = build_detector(cfg, weights_dir=weights_dir)
        for grid in ("1x1", "2x1"):
            tiling = TilingConfig(grid=grid)
            detect_tiled(detector, images[0], tiling)  # warm-up
            times = []
            for _ in tqdm(range(repeats), desc=f"{label} {grid}", unit="pass"):
                for img in images:
                    t = time.perf_counter()
                    detect_tiled(detector, img, tiling)
                    times.append(time.perf_counter() - t)
            ms = 1000 * statistics.median(times)
            passes = 1 if grid == "1x1" else 3
            rows.append(f"| {label} | {grid} | {passes} | {ms:.0f} | {int(INTERVAL_S * 1000 // ms)} |")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "datasets"
    )
    parser.add_argument("--parts", default="images,sequences,throughput")
    parser.add_argument("--min-confidence", type=float, default=0.25, help="per-image/box threshold")
    parser.add_argument("--frames", type=int, default=12, help="frames per positive sequence")
    parser.add_argument("--negative-frames", type=int, default=360, help="360 = one camera-hour")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights-dir", type=Path, default=None)
    parser.add_argument(
        "--small-scales",
        default=",".join(str(v) for v in SMALL_SCALES),
        help="small part: plume scales (1 = the plume video's own size)",
    )
    parser.add_argument(
        "--small-variants",
        default=",".join(SMALL_VARIANTS),
        help="small part: GRIDxROWS@IMGSZ list (e.g. 1x1@640,2x1@640)",
    )
    args = parser.parse_args(argv)
    if not (args.data / "smoke").is_dir():
        raise InvalidInputError(f"--data {args.data}: expected the shared datasets folder (with smoke/)")
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"images", "sequences", "throughput", "small"}
    if unknown:
        raise InvalidInputError(
            f"--parts: unknown {sorted(unknown)}; expected images, sequences, throughput, small"
        )
    try:
        scales = [float(v) for v in args.small_scales.split(",") if v.strip()]
    except ValueError as exc:
        raise InvalidInputError(
            f"--small-scales {args.small_scales!r}: expected numbers, e.g. 0.1,0.25"
        ) from exc
    if not scales or any(not 0 < v <= 2 for v in scales):
        raise InvalidInputError(f"--small-scales {args.small_scales!r}: expected scales in (0, 2]")
    variants = [v.strip() for v in args.small_variants.split(",") if v.strip()]
    for v in variants:
        grid, _, imgsz = v.partition("@")
        if grid not in ("1x1", "2x1", "2x2", "3x2") or not imgsz.isdigit():
            raise InvalidInputError(f"--small-variants {v!r}: expected GRID@IMGSZ, e.g. 2x1@640")
    print(
        f"# eval_fire — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.machine()}, {os.cpu_count()} cores"
    )
    detector = None
    if parts & {"images", "sequences"}:
        detector = build_detector(
            UltralyticsDetectorConfig(model=MODEL, imgsz=640, device="cpu", conf=0.15),
            weights_dir=args.weights_dir,
        )
        print(f"model {detector.name} {detector.version}, imgsz {detector.input_size}")
    if "images" in parts:
        print("\n" + "\n".join(eval_images(detector, args.data, args.min_confidence)))
    if "sequences" in parts:
        print("\n" + "\n".join(eval_sequences(detector, args.data, args.frames, args.negative_frames)))
    if "throughput" in parts:
        print("\n" + "\n".join(eval_throughput(args.data, args.repeats, args.weights_dir)))
    if "small" in parts:
        rows = eval_small(args.data, args.weights_dir, args.min_confidence, variants, scales)
        print("\n" + "\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
