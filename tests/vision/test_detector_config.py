"""Detector configuration, device selection and model location: no model is loaded here."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.vision.detector import (
    DarknetDetectorConfig,
    DetectorConfig,
    UltralyticsDetectorConfig,
    build_detector,
    resolve_device,
)

ADAPTER = TypeAdapter(DetectorConfig)


def test_discriminator_picks_the_backend() -> None:
    assert isinstance(
        ADAPTER.validate_python({"type": "darknet", "model": "coco-yolov4-tiny"}), DarknetDetectorConfig
    )
    cfg = ADAPTER.validate_python({"type": "ultralytics", "model": "plate-yolov8n", "classes": [0]})
    assert isinstance(cfg, UltralyticsDetectorConfig) and cfg.classes == [0]


@pytest.mark.parametrize(
    "data",
    [
        {"type": "darknet", "model": "m", "imgsz": 640},  # ultralytics-only key
        {"type": "ultralytics", "model": "m", "colour": "red"},
        {"type": "ultralytics", "model": "m", "device": "gpu"},
        {"type": "ultralytics", "model": "m", "conf": 1.5},
        {"type": "darknet", "model": "m", "input_size": 400},  # not a multiple of 32
        {"type": "yolo", "model": "m"},
        {"type": "ultralytics", "model": ""},
    ],
)
def test_invalid_configs_are_rejected(data: dict) -> None:
    with pytest.raises(ValidationError):
        ADAPTER.validate_python(data)


def test_fields_are_documented() -> None:
    for cls in (UltralyticsDetectorConfig, DarknetDetectorConfig):
        for name, field in cls.model_fields.items():
            assert field.title, f"{cls.__name__}.{name} has no title"


@pytest.mark.parametrize(
    ("requested", "half", "cuda", "expected"),
    [
        ("auto", False, 0, ("cpu", False)),
        ("auto", False, 2, ("cuda:0", False)),
        ("auto", True, 1, ("cuda:0", True)),
        ("cpu", False, 1, ("cpu", False)),
        ("cuda", True, 1, ("cuda:0", True)),
        ("cuda:1", False, 2, ("cuda:1", False)),
    ],
)
def test_device_selection(requested: str, half: bool, cuda: int, expected: tuple[str, bool]) -> None:
    assert resolve_device(requested, half=half, cuda_devices=cuda, backend="test") == expected


def test_half_on_cpu_under_auto_falls_back_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        assert resolve_device("auto", half=True, cuda_devices=0, backend="test") == ("cpu", False)
    assert "FP32" in caplog.text


@pytest.mark.parametrize(
    ("requested", "half", "cuda", "message"),
    [
        ("cpu", True, 1, "half=true needs a CUDA device"),
        ("cuda", False, 0, "no CUDA device"),
        ("cuda:2", False, 2, "only 2 CUDA device"),
        ("tpu", False, 0, "invalid"),
    ],
)
def test_device_errors(requested: str, half: bool, cuda: int, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_device(requested, half=half, cuda_devices=cuda, backend="test")


@pytest.mark.parametrize(
    "config",
    [DarknetDetectorConfig(model="coco-yolov4-tiny"), UltralyticsDetectorConfig(model="plate-yolov8n")],
)
def test_missing_cached_model_names_the_fetch_command(tmp_path: Path, config) -> None:
    with pytest.raises(ModelUnavailableError) as err:
        build_detector(config, weights_dir=tmp_path)
    assert f"vigie weights fetch {config.model}" in str(err.value)
    assert str(tmp_path) in str(err.value)


def test_unknown_model_path_and_wrong_backend(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="neither a manifest model"):
        build_detector(UltralyticsDetectorConfig(model=str(tmp_path / "absent.pt")), weights_dir=tmp_path)
    with pytest.raises(ConfigError, match="is a darknet model"):
        build_detector(UltralyticsDetectorConfig(model="coco-yolov4-tiny"), weights_dir=tmp_path)


def test_darknet_on_cuda_without_opencv_cuda_is_explained(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from vigie.vision.backends import darknet

    monkeypatch.setattr(darknet, "opencv_cuda_devices", lambda: 0)
    weights = tmp_path / "toy.weights"
    weights.write_bytes(b"\0" * 16)
    weights.with_suffix(".cfg").write_text("[net]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="needs OpenCV built with CUDA"):
        build_detector(DarknetDetectorConfig(model=str(weights), device="cuda:0"), weights_dir=tmp_path)
