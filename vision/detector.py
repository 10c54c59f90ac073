"""Object detectors: typed configuration, the `Detector` interface and the factory that loads a model.

Backends (in `vision/backends/`) only turn a list of BGR images into raw boxes; this module adds what
every detector shares: device selection, chunking into batches, latency metrics and the per-frame
metadata (model name and version, device, image size, camera, capture time, sequence).
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vigie.errors import ConfigError, InvalidInputError, ModelUnavailableError
from vigie.observability import INFERENCE_SECONDS
from vigie.vision.detections import Detections
from vigie.vision.frame import Frame
from vigie.weights import manager
from vigie.weights.manifest import ModelSpec

log = logging.getLogger(__name__)

DEVICE_PATTERN = r"^(auto|cpu|cuda(:\d+)?)$"


class _DetectorConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        min_length=1,
        title="Model",
        description="A model name from weights/manifest.toml, or a path to a model file.",
    )
    conf: float = Field(
        0.25, ge=0.0, le=1.0, title="Confidence threshold", description="Boxes scoring below are dropped."
    )
    classes: list[int] | None = Field(
        None, title="Classes", description="Class ids to keep (None = all classes of the model)."
    )
    device: str = Field(
        "auto",
        pattern=DEVICE_PATTERN,
        title="Device",
        description="auto (cuda:0 when available, else cpu), cpu, cuda or cuda:N.",
    )
    half: bool = Field(
        False,
        title="Half precision",
        description="FP16 inference on CUDA; ignored with a warning under device=auto on a CPU-only host.",
    )
    batch: int = Field(1, ge=1, le=256, title="Batch size", description="Images per forward pass.")


class UltralyticsDetectorConfig(_DetectorConfigBase):
    type: Literal["ultralytics"] = Field("ultralytics", title="Backend")
    model: str = Field(
        min_length=1,
        title="Model",
        description="A manifest model name, or a path to a .pt, .onnx, .engine file or an OpenVINO folder.",
    )
    imgsz: int | None = Field(
        None,
        gt=0,
        le=8192,
        title="Input size",
        description="Network input side (None = the manifest's, or 640).",
    )
    iou: float = Field(0.45, ge=0.0, le=1.0, title="NMS IoU", description="Overlap above which boxes merge.")
    max_det: int = Field(300, ge=1, title="Max detections", description="Per image, after NMS.")


class DarknetDetectorConfig(_DetectorConfigBase):
    type: Literal["darknet"] = Field("darknet", title="Backend")
    model: str = Field(
        min_length=1,
        title="Model",
        description="A manifest model name, or a path to a .weights file with its .cfg beside it.",
    )
    input_size: int = Field(
        416, gt=0, le=4096, multiple_of=32, title="Input size", description="Square network input, pixels."
    )
    nms_iou: float = Field(0.45, ge=0.0, le=1.0, title="NMS IoU", description="Class-wise NMS overlap.")


DetectorConfig = Annotated[UltralyticsDetectorConfig | DarknetDetectorConfig, Field(discriminator="type")]


# --- device selection ----------------------------------------------------------------------------------


def resolve_device(requested: str, *, half: bool, cuda_devices: int, backend: str) -> tuple[str, bool]:
    """Turn the configured device into a concrete one and decide whether half precision is used.

    `cuda_devices` is the number of CUDA devices the backend can use (torch for ultralytics, OpenCV's CUDA
    build for darknet). Half precision exists only on CUDA: under `auto` on a CPU host it falls back to
    FP32 with a warning; asked explicitly with `device=cpu` it is a configuration error.
    """
    match = re.fullmatch(DEVICE_PATTERN, requested)
    if match is None:
        raise ConfigError(
            f"{backend} detector: device {requested!r} is invalid; expected auto, cpu, cuda or cuda:N"
        )
    if requested == "auto":
        if cuda_devices > 0:
            return "cuda:0", half
        if half:
            log.warning(
                "%s detector: half=true but no CUDA device is available; running in FP32 on cpu", backend
            )
        return "cpu", False
    if requested == "cpu":
        if half:
            raise ConfigError(
                f"{backend} detector: half=true needs a CUDA device, but device='cpu' was requested; "
                "set half=false or device=auto"
            )
        return "cpu", False
    index = int(requested.split(":")[1]) if ":" in requested else 0
    if cuda_devices == 0:
        raise ConfigError(
            f"{backend} detector: device {requested!r} requested but no CUDA device is available"
        )
    if index >= cuda_devices:
        raise ConfigError(
            f"{backend} detector: device {requested!r} requested but only {cuda_devices} CUDA device(s) exist"
        )
    return f"cuda:{index}", half


# --- model location ------------------------------------------------------------------------------------


def locate_model(
    model: str, backend: str, *, weights_dir: Path | None = None
) -> tuple[ModelSpec | None, manager.ResolvedModel | None, Path]:
    """A manifest name resolves through the weights cache; anything else must be an existing path."""
    specs = manager.load_manifest()
    if model in specs:
        spec = specs[model]
        if spec.backend != backend:
            raise ConfigError(
                f"model {model!r} is a {spec.backend} model in the manifest; "
                f"use a detector of type {spec.backend!r}"
            )
        resolved = manager.resolve(model, weights_dir=weights_dir)
        return spec, resolved, resolved.path("weights")
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelUnavailableError(
            f"model {model!r} is neither a manifest model ({', '.join(sorted(specs))}) nor an existing file; "
            f"for a manifest model run `vigie weights fetch NAME`"
        )
    return None, None, path


def file_version(path: Path) -> str:
    """Version label of a model given by path: the start of its sha256 (a folder: its name)."""
    if path.is_dir():
        return f"dir:{path.name}"
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()[:12]}"


# --- the detector interface ----------------------------------------------------------------------------


def _as_image(item: Frame | np.ndarray, position: int) -> np.ndarray:
    image = item.image if isinstance(item, Frame) else item
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{type(image).__name__} {getattr(image, 'shape', '')} {getattr(image, 'dtype', '')}".strip()
        raise InvalidInputError(
            f"detector input #{position}: expected a BGR uint8 H×W×3 image or a Frame, got {got}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(f"detector input #{position}: image is empty {image.shape}")
    return image


class Detector(ABC):
    """A loaded model. `detect` / `detect_batch` return one `Detections` per image, boxes in image pixels."""

    name: str
    version: str
    device: str
    half: bool
    names: dict[int, str]
    input_size: int
    batch: int

    @abstractmethod
    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        """Run the model on at most `self.batch` images; boxes in original-image pixels."""

    def detect(self, frame: Frame | np.ndarray) -> Detections:
        return self.detect_batch([frame])[0]

    def detect_batch(self, frames: Sequence[Frame | np.ndarray]) -> list[Detections]:
        images = [_as_image(f, i) for i, f in enumerate(frames)]
        out: list[Detections] = []
        latency = INFERENCE_SECONDS.labels(model=self.name, device=self.device)
        for start in range(0, len(images), self.batch):
            chunk = images[start : start + self.batch]
            t0 = time.perf_counter()
            out.extend(self._predict(chunk))
            latency.observe(time.perf_counter() - t0)
        for item, image, dets in zip(frames, images, out, strict=True):
            dets.names = dict(self.names)
            dets.metadata.update(
                model=self.name,
                model_version=self.version,
                device=self.device,
                image_size=(int(image.shape[0]), int(image.shape[1])),  # (height, width)
                input_size=self.input_size,
            )
            if isinstance(item, Frame):
                dets.metadata.update(
                    camera_id=item.camera_id, captured_at=item.captured_at, sequence=item.sequence
                )
        return out

    def __call__(self, frame: Frame | np.ndarray) -> Detections:
        return self.detect(frame)

    def __repr__(self) -> str:
        precision = " fp16" if self.half else ""
        return f"<{type(self).__name__} {self.name} {self.version} on {self.device}{precision}>"


def check_classes(classes: list[int] | None, names: dict[int, str], model: str) -> None:
    if classes is None:
        return
    unknown = sorted(set(classes) - set(names))
    if unknown:
        raise ConfigError(f"model {model!r}: classes {unknown} do not exist; it has ids 0..{max(names)}")


def build_detector(
    config: UltralyticsDetectorConfig | DarknetDetectorConfig, *, weights_dir: Path | None = None
) -> Detector:
    """Load the configured model (raises ModelUnavailableError when its files are missing or corrupt)."""
    # Imported here so that importing the configuration does not import torch/ultralytics.
    if isinstance(config, DarknetDetectorConfig):
        from vigie.vision.backends.darknet import DarknetDetector

        return DarknetDetector(config, weights_dir=weights_dir)
    if isinstance(config, UltralyticsDetectorConfig):
        from vigie.vision.backends.ultralytics_backend import UltralyticsDetector

        return UltralyticsDetector(config, weights_dir=weights_dir)
    raise ConfigError(f"unknown detector configuration {type(config).__name__}")
