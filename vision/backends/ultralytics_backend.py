"""Ultralytics YOLO models: PyTorch `.pt` checkpoints and their exports (ONNX, OpenVINO, TensorRT)."""

from __future__ import annotations

import json
import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.vision.detections import Detections
from vigie.vision.detector import (
    Detector,
    UltralyticsDetectorConfig,
    check_classes,
    file_version,
    locate_model,
    resolve_device,
)
from vigie.vision.letterbox import letterbox
from vigie.vision.ultralytics_compat import load_ultralytics
from vigie.weights import fasternet_compat

log = logging.getLogger(__name__)

SUPPORTED_SUFFIXES = (".pt", ".onnx", ".engine", ".torchscript")


def _check_format(path: Path) -> None:
    if path.is_dir():
        if not any(path.glob("*.xml")):
            raise ModelUnavailableError(
                f"model folder {path}: expected an OpenVINO export (a .xml and .bin inside)"
            )
    elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
        raise ConfigError(
            f"model file {path}: unsupported format {path.suffix!r}; "
            f"expected one of {', '.join(SUPPORTED_SUFFIXES)} "
            "or an OpenVINO folder"
        )


def load_yolo(path: Path, device: str):  # -> ultralytics.YOLO (kept untyped: ultralytics is imported lazily)
    """Load a YOLO model; loading failures become ModelUnavailableError naming the file."""
    _check_format(path)
    if path.suffix.lower() == ".pt":
        # Some community checkpoints pickle custom layers under __main__ (see weights/fasternet_compat.py).
        fasternet_compat.register_in_main()
    YOLO = load_ultralytics().YOLO

    try:
        return YOLO(str(path), task="detect")
    except (
        RuntimeError,
        ValueError,
        OSError,
        EOFError,
        pickle.UnpicklingError,
        zipfile.BadZipFile,
        AttributeError,
        ModuleNotFoundError,
        KeyError,
    ) as exc:
        raise ModelUnavailableError(f"cannot load ultralytics model {path} on {device}: {exc}") from exc


def _export_origin(path: Path) -> tuple[str, str] | None:
    """(model name, version) recorded by `export_model` beside an export of a manifest model, if any."""
    info = path.parent / "vigie-export.json"
    if not info.is_file():
        return None
    try:
        data = json.loads(info.read_text(encoding="utf-8"))
        return str(data["model"]), str(data["version"])
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable %s", info)
        return None


class UltralyticsDetector(Detector):
    def __init__(self, config: UltralyticsDetectorConfig, *, weights_dir: Path | None = None) -> None:
        self.config = config
        spec, _resolved, path = locate_model(config.model, "ultralytics", weights_dir=weights_dir)
        self.path = path
        self.device, self.half = resolve_device(
            config.device, half=config.half, cuda_devices=torch.cuda.device_count(), backend="ultralytics"
        )
        self.model = load_yolo(path, self.device)
        model_names = {int(k): str(v) for k, v in dict(self.model.names or {}).items()}
        if spec is not None:
            self.name, self.version = spec.name, spec.version
            if model_names and len(model_names) != len(spec.classes):
                raise ConfigError(
                    f"model {spec.name!r}: the manifest lists {len(spec.classes)} classes, the file has "
                    f"{len(model_names)} ({model_names})"
                )
            self.names = spec.names
        elif (origin := _export_origin(path)) is not None:
            self.name, self.version = origin  # an export of a manifest model, see vision/export.py
            self.names = model_names
        else:
            self.name, self.version = path.stem, file_version(path)
            self.names = model_names
        self.input_size = config.imgsz or (spec.input_size if spec is not None else 640)
        self.batch = config.batch
        check_classes(config.classes, self.names, self.name)

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        c = self.config
        # Letterbox here to the square input so that a batch of mixed sizes, a single image and a static
        # export all see exactly the same pixels (ultralytics would otherwise pad single images minimally).
        boxed = [letterbox(image, self.input_size) for image in images]
        results = self.model.predict(
            [b[0] for b in boxed],
            imgsz=self.input_size,
            conf=c.conf,
            iou=c.iou,
            classes=c.classes,
            device=self.device,
            quantize=16 if self.half else None,  # ultralytics 8.4 replaced `half` by `quantize`
            max_det=c.max_det,
            batch=len(images),
            verbose=False,
        )
        out = []
        for r, (_, transform) in zip(results, boxed, strict=True):
            boxes = r.boxes
            out.append(
                Detections(
                    xyxy=transform.to_original(boxes.xyxy.cpu().numpy()),
                    confidence=boxes.conf.cpu().numpy(),
                    class_id=boxes.cls.cpu().numpy().astype(np.int64),
                )
            )
        return out
