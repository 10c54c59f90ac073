from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from vigie.errors import InvalidInputError
from vigie.vision import bench
from vigie.vision.bench import BenchRow, bench_detect, format_table
from vigie.vision.detections import Detections
from vigie.vision.detector import DarknetDetectorConfig, Detector


class CountingDetector(Detector):
    """Returns one box per image and records the batch sizes it was given."""

    def __init__(self, batch: int) -> None:
        self.name, self.version, self.device, self.half = "fake", "1", "cpu", False
        self.names, self.input_size, self.batch = {0: "thing"}, 416, batch
        self.calls: list[int] = []

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        self.calls.append(len(images))
        return [Detections(xyxy=np.array([[0, 0, 1, 1]])) for _ in images]


def test_bench_counts_frames_and_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[CountingDetector] = []

    def fake_build(config, weights_dir=None):
        built.append(CountingDetector(config.batch))
        return built[-1]

    monkeypatch.setattr(bench, "build_detector", fake_build)
    images = [np.zeros((20, 30, 3), np.uint8)] * 5
    rows = bench_detect([DarknetDetectorConfig(model="x", batch=2)], images, repeats=3, warmup=1)
    assert built[0].calls == [2] + [2, 2, 1] * 3  # warm-up batch, then 3 passes over 5 images in batches of 2
    [row] = rows
    assert (row.backend, row.model, row.format, row.batch, row.imgsz) == (
        "darknet",
        "fake",
        "darknet",
        2,
        416,
    )
    assert row.detections_per_frame == 1.0
    assert row.frames_per_s > 0 and 0 < row.ms_per_frame_p50 <= row.ms_per_frame_p95


def test_bench_input_errors() -> None:
    with pytest.raises(InvalidInputError):
        bench_detect([DarknetDetectorConfig(model="x")], [], repeats=1)
    with pytest.raises(InvalidInputError):
        bench_detect([DarknetDetectorConfig(model="x")], [np.zeros((2, 2, 3), np.uint8)], repeats=0)


def test_format_table_aligns_columns() -> None:
    rows = [
        BenchRow("darknet", "coco-yolov4-tiny", "darknet", "cpu", 416, 1, 21.456, 46.6, 52.25, 4.0),
        BenchRow("ultralytics", "plate-yolov8n", "onnx", "cpu", 640, 4, 9.0, 111.0, 130.0, 1.25),
    ]
    lines = format_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[0].split()[:3] == ["backend", "model", "format"]
    assert "21.5" in lines[2] and "46.6" in lines[2] and "4.00" in lines[2]
    assert len({len(line) for line in lines[:2]}) == 1  # header and rule have the same width
    assert lines[3].index("onnx") == lines[2].index("darknet", len("darknet"))


@pytest.mark.slow
def test_bench_real_darknet() -> None:
    from vigie.weights import manager

    manager.fetch("coco-yolov4-tiny")
    images = [np.full((240, 320, 3), 100, np.uint8)] * 2
    [row] = bench_detect([DarknetDetectorConfig(model="coco-yolov4-tiny")], images, repeats=1)
    assert row.model == "coco-yolov4-tiny" and row.frames_per_s > 0


def test_onnx_variant_rows_carry_the_source_model_name(monkeypatch: pytest.MonkeyPatch) -> None:
    from vigie.vision.detector import UltralyticsDetectorConfig

    def fake_build(config, weights_dir=None):
        detector = CountingDetector(config.batch)
        detector.name = Path(config.model).stem
        detector.path = Path(config.model)
        return detector

    monkeypatch.setattr(bench, "build_detector", fake_build)
    monkeypatch.setattr(bench, "_onnx_variant", lambda c, w: c.model_copy(update={"model": "/x/best.onnx"}))
    configs = [UltralyticsDetectorConfig(model="/x/best.pt"), DarknetDetectorConfig(model="/y/dark.weights")]
    rows = bench_detect(configs, [np.zeros((8, 8, 3), np.uint8)], repeats=1, onnx_variants=True)
    assert [(r.model, r.format) for r in rows] == [
        ("best", "pt"),
        ("/x/best.pt", "onnx"),
        ("dark", "darknet"),
    ]
