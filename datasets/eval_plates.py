"""Measure plate reading on `plates/fr-train` (189 photos of French cars; plate text = file name).

    python -m vigie.datasets.eval_plates [--samples ../shared/datasets] [--limit N] [--out results.json]
        [--only NAME,NAME] [--boxes boxes.json] [--no-plain] [--no-voting]

To iterate on the reader quickly: `--boxes` caches the detector's boxes of each photo in a JSON file (written
on the first run, read afterwards), `--only` restricts the run to the named photos (e.g. last run's
failures), and `--no-plain --no-voting` keeps the reader stage alone. Figures for the record come from a
full run without these options.

For every photo, the plate detector runs once; detection recall counts ground-truth boxes matched by a
kept box at IoU >= 0.5. The plate read for a photo is the read of the kept box that best overlaps the
ground truth (else the most confident box; none = a miss). Stages, side by side on the same boxes:
- plain: RapidOCR's own pipeline (text detection with `limit_type=max`, then recognition) on the crop,
  all text concatenated and cleaned, no syntax, no voting;
- plain + syntax: the same text given to `syntax.search_plate` (look-alike table only, no OCR alternatives);
- reader: `PlateReader.read` on the photo (every box, weak ones confirmed by their read; line selection and
  rectification, CTC alternatives, syntax search), scored on its read of the ground-truth plate;
- reader + voting: simulated frames of the same vehicle (the photo, downscaled ×0.6, motion-blurred,
  shifted and darkened, JPEG q=35), each read by the full reader (detector included), then
  `voting.vote`. This is a simulation: real video frames differ more (angle, distance, motion).
Exact match is on the normalised text (no separators). Per-character accuracy = 1 − edit distance / length,
summed over photos (a miss counts as all characters wrong). Latency is wall time on this machine.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vigie.datasets.voc import load_voc
from vigie.errors import NotFoundError
from vigie.pipelines.lapi.reading import PlateObservation, PlateReader, PlateReaderConfig, crop_with_margin
from vigie.pipelines.lapi.syntax import clean_text, search_plate
from vigie.pipelines.lapi.voting import vote
from vigie.vision.detections import Detections, box_iou


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


@dataclass
class StageScore:
    exact: int = 0
    chars_right: int = 0
    chars_total: int = 0
    n: int = 0
    wrong_confident: int = 0  # wrong reads reported with confidence >= 0.8
    confident: int = 0  # reads reported with confidence >= 0.8
    latencies_s: list[float] = field(default_factory=list)

    def add(
        self, truth: str, read: str, confidence: float | None = None, latency_s: float | None = None
    ) -> None:
        self.n += 1
        self.exact += read == truth
        self.chars_right += max(0, len(truth) - edit_distance(read, truth))
        self.chars_total += len(truth)
        if confidence is not None and confidence >= 0.8:
            self.confident += 1
            self.wrong_confident += read != truth
        if latency_s is not None:
            self.latencies_s.append(latency_s)

    def summary(self) -> dict[str, float | int | None]:
        return {
            "photos": self.n,
            "exact_match": round(self.exact / self.n, 4) if self.n else None,
            "char_accuracy": round(self.chars_right / self.chars_total, 4) if self.chars_total else None,
            "confident_reads": self.confident,
            "wrong_among_confident": self.wrong_confident,
            "median_latency_ms": round(1000 * statistics.median(self.latencies_s), 1)
            if self.latencies_s
            else None,
        }


def variants(image: np.ndarray, box: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Simulated frames of the same vehicle with the ground-truth box moved accordingly."""
    out = [(image, box)]
    small = cv2.resize(image, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    out.append((small, box * 0.6))
    kernel = np.zeros((9, 9), np.float32)
    kernel[4, :] = 1.0 / 9  # horizontal motion blur
    out.append((cv2.filter2D(image, -1, kernel), box))
    h, w = image.shape[:2]
    dx, dy = int(0.04 * w), int(0.03 * h)
    shifted = np.ascontiguousarray((image[dy:, dx:].astype(np.float32) * 0.7).astype(np.uint8))
    out.append((shifted, box - np.array([dx, dy, dx, dy], np.float32)))
    ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 35])
    if ok:
        out.append((cv2.imdecode(jpeg, cv2.IMREAD_COLOR), box))
    return out


def pick(observations: list[PlateObservation], truth_box: np.ndarray) -> PlateObservation | None:
    """The read of the box overlapping the ground truth best (IoU >= 0.5), else the reader's first one."""
    if not observations:
        return None
    boxes = np.array([o.box for o in observations], np.float32)
    ious = box_iou(boxes, truth_box[None, :])[:, 0]
    if ious.max() >= 0.5:
        return observations[int(ious.argmax())]
    return observations[0]


class BoxCache:
    """The detector's kept boxes per photo, from a JSON file when given (the detector is deterministic)."""

    def __init__(self, path: Path | None, reader: PlateReader) -> None:
        self.path, self.reader = path, reader
        self.boxes: dict[str, list[list[float]]] = {}
        if path is not None and path.is_file():
            self.boxes = json.loads(path.read_text())
        self.changed = False

    def detect(self, name: str, image: np.ndarray) -> Detections:
        """Every box the detector returns (its own score threshold only)."""
        if name not in self.boxes:
            dets = self.reader.detector.detect(image)
            pairs = zip(dets.xyxy, dets.confidence, strict=True)
            self.boxes[name] = [[*map(float, b), float(c)] for b, c in pairs]
            self.changed = True
        rows = np.array(self.boxes[name], np.float32).reshape(-1, 5)
        return Detections(xyxy=rows[:, :4], confidence=rows[:, 4])

    def save(self) -> None:
        if self.path is not None and self.changed:
            self.path.write_text(json.dumps(self.boxes))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--samples", type=Path, default=Path(__file__).resolve().parents[2] / "shared/datasets"
    )
    parser.add_argument("--limit", type=int, default=None, help="first N photos only")
    parser.add_argument("--no-voting", action="store_true", help="skip the simulated-frames stage")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain RapidOCR stages")
    parser.add_argument("--only", default=None, help="comma-separated photo file names to run alone")
    parser.add_argument("--boxes", type=Path, default=None, help="JSON cache of the detector's boxes")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON")
    args = parser.parse_args(argv)

    root = args.samples / "plates/fr-train"
    if not root.is_dir():
        raise NotFoundError(f"{root} not found: pass --samples pointing at shared/datasets")
    images = load_voc(root / "Annotations", root / "Images")[: args.limit]
    if args.only:
        wanted = {name.strip() for name in args.only.split(",") if name.strip()}
        images = [item for item in images if Path(item.image_path).name in wanted]
        missing = wanted - {Path(item.image_path).name for item in images}
        if missing:
            raise NotFoundError(f"--only: photos not in {root / 'Images'}: {', '.join(sorted(missing))}")
    reader = PlateReader(PlateReaderConfig())
    box_cache = BoxCache(args.boxes, reader)
    from rapidocr import RapidOCR

    plain_ocr = RapidOCR(
        params={
            "Global.log_level": "error",
            "Global.use_cls": False,
            "Det.limit_type": "max",
            "EngineConfig.onnxruntime.intra_op_num_threads": 2,
        }
    )
    stages = {
        name: StageScore() for name in ("plain", "plain+syntax", "reader", "reader+voting", "reader_variants")
    }
    detected = 0
    failures: list[dict[str, str]] = []
    for item in tqdm(images, desc="fr-train", unit="photo"):
        truth = clean_text(Path(item.image_path).stem)
        image = cv2.imread(str(item.image_path), cv2.IMREAD_COLOR)
        truth_box = item.boxes[0].astype(np.float32)

        t0 = time.perf_counter()
        all_dets = box_cache.detect(Path(item.image_path).name, image)
        dets = all_dets.above(reader.config.min_detection_confidence)
        t_det = time.perf_counter() - t0
        if len(dets) and box_iou(dets.xyxy, truth_box[None, :]).max() >= 0.5:
            detected += 1
        if len(dets):
            ious = box_iou(dets.xyxy, truth_box[None, :])[:, 0]
            i = int(ious.argmax()) if ious.max() >= 0.5 else int(dets.confidence.argmax())
            box = dets.xyxy[i]
            t1 = time.perf_counter()
            plain = ""
            if not args.no_plain:
                crop, _ = crop_with_margin(image, box, reader.config.crop_margin)
                result = plain_ocr(crop)
                plain = clean_text("".join(getattr(result, "txts", None) or ()))
            t_plain = t_det + time.perf_counter() - t1
        else:
            plain, t_plain = "", t_det
        t2 = time.perf_counter()
        obs = pick(reader.read(image, all_dets), truth_box)
        t_reader = t_det + time.perf_counter() - t2
        if not args.no_plain:
            stages["plain"].add(truth, plain, latency_s=t_plain)
            syn = search_plate(plain)
            stages["plain+syntax"].add(truth, syn.text, syn.confidence)
        stages["reader"].add(truth, obs.text if obs else "", obs.confidence if obs else 0.0, t_reader)

        if not args.no_voting:
            reads: list[PlateObservation] = []
            t3 = time.perf_counter()
            for frame, frame_box in variants(image, truth_box):
                o = pick(reader.read(frame), frame_box)
                stages["reader_variants"].add(truth, o.text if o else "", o.confidence if o else 0.0)
                if o is not None:
                    reads.append(o)
            t_vote = time.perf_counter() - t3
            passage = vote(reads, times=[None] * len(reads)) if reads else None
            voted = passage.text if passage else ""
            stages["reader+voting"].add(truth, voted, passage.confidence if passage else 0.0, t_vote)
        if obs is None or obs.text != truth:
            failures.append(
                {
                    "photo": Path(item.image_path).name,
                    "plain": plain,
                    "reader": obs.text if obs else "",
                    "raw": obs.raw_text if obs else "",
                    "boxes": len(dets),
                    "box_iou": round(float(box_iou(dets.xyxy, truth_box[None, :]).max()), 3)
                    if len(dets)
                    else 0.0,
                }
            )

    report = {
        "dataset": "plates/fr-train",
        "photos": len(images),
        "detection_recall_iou50": round(detected / len(images), 4) if images else None,
        "stages": {name: s.summary() for name, s in stages.items() if s.n},
        "reader_failures": failures,
    }
    box_cache.save()
    json.dump(report, sys.stdout if args.out is None else args.out.open("w"), indent=2)
    print(file=sys.stderr)
    print(f"detection recall (IoU>=0.5): {report['detection_recall_iou50']}", file=sys.stderr)
    for name, s in report["stages"].items():
        print(f"{name:16s} {s}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
