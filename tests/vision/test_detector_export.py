"""ONNX export of an ultralytics model (slow: runs the exporter and both models)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from vigie.errors import ConfigError
from vigie.vision.detections import box_iou
from vigie.vision.detector import UltralyticsDetectorConfig, build_detector
from vigie.vision.export import export_model
from vigie.weights import manager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plate_model() -> str:
    manager.fetch("plate-yolov8n")
    return "plate-yolov8n"


def test_onnx_export_detects_like_the_checkpoint(
    plate_model: str, tmp_path: Path, shared_datasets: Path
) -> None:
    exported = export_model(plate_model, "onnx", imgsz=640, device="cpu", output_dir=tmp_path)
    assert exported == tmp_path / "best.onnx" and exported.is_file()
    assert not (tmp_path / "best.pt").exists()  # the working copy is removed
    assert (
        export_model(plate_model, "onnx", imgsz=640, device="cpu", output_dir=tmp_path) == exported
    )  # cached

    image = cv2.imread(str(next((shared_datasets / "plates" / "fr-train" / "Images").glob("*.jpg"))))
    torch_dets = build_detector(UltralyticsDetectorConfig(model=plate_model)).detect(image)
    onnx_detector = build_detector(UltralyticsDetectorConfig(model=str(exported), imgsz=640))
    onnx_dets = onnx_detector.detect(image)
    assert onnx_detector.names == {0: "License_Plate"}
    assert onnx_dets.metadata["model"] == "plate-yolov8n"
    assert onnx_dets.metadata["model_version"] == "1.0.3+onnx-640-b1"
    assert len(onnx_dets) == len(torch_dets) >= 1
    assert np.diag(box_iou(onnx_dets.xyxy, torch_dets.xyxy)).min() > 0.95


def test_export_refuses_what_the_host_cannot_do(plate_model: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="half=true needs a CUDA device"):
        export_model(plate_model, "onnx", half=True, device="cpu", output_dir=tmp_path)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="TensorRT"):
            export_model(plate_model, "engine", device="auto", output_dir=tmp_path)
    with pytest.raises(ConfigError, match="not supported"):
        export_model(plate_model, "tflite", output_dir=tmp_path)  # type: ignore[arg-type]
