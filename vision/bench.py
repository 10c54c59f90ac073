"""Detector throughput benchmark (`vigie bench detect`): same images through each configured detector."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vigie.errors import InvalidInputError
from vigie.vision.detector import (
    DarknetDetectorConfig,
    Detector,
    UltralyticsDetectorConfig,
    build_detector,
)


@dataclass(frozen=True, slots=True)
class BenchRow:
    backend: str
    model: str
    format: str  # darknet, pt, onnx, openvino, engine
    device: str
    imgsz: int
    batch: int
    frames_per_s: float
    ms_per_frame_p50: float
    ms_per_frame_p95: float
    detections_per_frame: float


def _format_of(detector: Detector, config: UltralyticsDetectorConfig | DarknetDetectorConfig) -> str:
    if isinstance(config, DarknetDetectorConfig):
        return "darknet"
    path: Path = detector.path  # type: ignore[attr-defined]
    return "openvino" if path.is_dir() else path.suffix.lstrip(".").lower()


def _onnx_variant(
    config: UltralyticsDetectorConfig, weights_dir: Path | None
) -> UltralyticsDetectorConfig | None:
    """The same detector on an ONNX export of its `.pt` model (None when the model is not a `.pt`)."""
    from vigie.vision.export import export_model  # imports the exporter only when asked

    probe = build_detector(config, weights_dir=weights_dir)
    if _format_of(probe, config) != "pt":
        return None
    exported = export_model(
        config.model,
        "onnx",
        imgsz=probe.input_size,
        device="cpu" if probe.device == "cpu" else probe.device,
        dynamic=config.batch > 1,
        batch=config.batch,
        weights_dir=weights_dir,
    )
    return config.model_copy(update={"model": str(exported), "imgsz": probe.input_size})


def bench_detect(
    detectors: Sequence[UltralyticsDetectorConfig | DarknetDetectorConfig],
    images: Sequence[np.ndarray],
    repeats: int = 3,
    *,
    onnx_variants: bool = False,
    warmup: int = 1,
    weights_dir: Path | None = None,
) -> list[BenchRow]:
    """Time every detector on `images` (`repeats` passes, after `warmup` untimed batches).

    ms/frame percentiles are over batches (batch time / batch size); frames/s is images over total time.
    With `onnx_variants`, each ultralytics `.pt` detector is also exported to ONNX and timed.
    """
    if not images:
        raise InvalidInputError("bench_detect: expected at least one image")
    if repeats < 1:
        raise InvalidInputError(f"bench_detect: repeats must be >= 1, got {repeats}")
    # (config, label): an ONNX variant is shown under its source model's name, not the export's file stem
    plan: list[tuple[UltralyticsDetectorConfig | DarknetDetectorConfig, str | None]] = []
    for config in detectors:
        plan.append((config, None))
        if onnx_variants and isinstance(config, UltralyticsDetectorConfig):
            variant = _onnx_variant(config, weights_dir)
            if variant is not None:
                plan.append((variant, config.model))

    rows = []
    total = sum(repeats * -(-len(images) // c.batch) for c, _ in plan)
    with tqdm(total=total, desc="bench detect", unit="batch", disable=None) as bar:
        for config, label in plan:
            detector = build_detector(config, weights_dir=weights_dir)
            batches = [list(images[i : i + config.batch]) for i in range(0, len(images), config.batch)]
            for i in range(warmup):
                detector.detect_batch(batches[i % len(batches)])
            per_frame_ms, elapsed, n_frames, n_dets = [], 0.0, 0, 0
            bar.set_postfix_str(f"{detector.name} {_format_of(detector, config)}")
            for _ in range(repeats):
                for batch in batches:
                    t0 = time.perf_counter()
                    results = detector.detect_batch(batch)
                    dt = time.perf_counter() - t0
                    elapsed += dt
                    n_frames += len(batch)
                    n_dets += sum(len(r) for r in results)
                    per_frame_ms.append(1000 * dt / len(batch))
                    bar.update()
            rows.append(
                BenchRow(
                    backend=config.type,
                    model=label or detector.name,
                    format=_format_of(detector, config),
                    device=detector.device + (" fp16" if detector.half else ""),
                    imgsz=detector.input_size,
                    batch=config.batch,
                    frames_per_s=n_frames / elapsed,
                    ms_per_frame_p50=float(np.percentile(per_frame_ms, 50)),
                    ms_per_frame_p95=float(np.percentile(per_frame_ms, 95)),
                    detections_per_frame=n_dets / n_frames,
                )
            )
    return rows


_COLUMNS = (
    ("backend", "backend", "{}"),
    ("model", "model", "{}"),
    ("format", "format", "{}"),
    ("device", "device", "{}"),
    ("imgsz", "imgsz", "{}"),
    ("batch", "batch", "{}"),
    ("frames_per_s", "frames/s", "{:.1f}"),
    ("ms_per_frame_p50", "ms/frame p50", "{:.1f}"),
    ("ms_per_frame_p95", "ms/frame p95", "{:.1f}"),
    ("detections_per_frame", "dets/frame", "{:.2f}"),
)


def format_table(rows: Sequence[BenchRow]) -> str:
    """A plain-text table, one line per row, numbers right-aligned."""
    cells = [[fmt.format(getattr(r, attr)) for attr, _, fmt in _COLUMNS] for r in rows]
    headers = [h for _, h, _ in _COLUMNS]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    numeric = [fmt != "{}" or attr in ("imgsz", "batch") for attr, _, fmt in _COLUMNS]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)
        )

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(c) for c in cells)]).rstrip()
