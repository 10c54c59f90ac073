"""Darknet YOLO models (v3/v4, tiny or not) run with OpenCV DNN, CPU or OpenCV's CUDA build."""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.vision.detections import Detections
from vigie.vision.detector import (
    DarknetDetectorConfig,
    Detector,
    check_classes,
    file_version,
    locate_model,
    resolve_device,
)
from vigie.vision.letterbox import letterbox

log = logging.getLogger(__name__)


def opencv_cuda_devices() -> int:
    """CUDA devices usable by OpenCV DNN (0 for the pip wheels, which are built without CUDA)."""
    try:
        return int(cv2.cuda.getCudaEnabledDeviceCount())
    except cv2.error:
        return 0


def _read_names(path: Path | None) -> dict[int, str]:
    if path is None or not path.is_file():
        return {}
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return dict(enumerate(line for line in lines if line))


def decode_yolo_rows(
    rows: np.ndarray, conf: float, classes: list[int] | None, input_size: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows `[cx, cy, w, h, objectness, class scores…]` (relative to the input) → xyxy, score, class.

    Boxes come out in input-pixel coordinates.

    OpenCV's region layer already multiplies class probabilities by objectness, so the best class score is the
    detection confidence.
    """
    class_scores = rows[:, 5:]
    class_id = class_scores.argmax(axis=1)
    score = class_scores[np.arange(len(rows)), class_id]
    keep = score >= conf
    if classes is not None:
        keep &= np.isin(class_id, classes)
    rows, score, class_id = rows[keep], score[keep], class_id[keep]
    cx, cy, w, h = (rows[:, i] * input_size for i in range(4))
    xyxy = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float32)
    return xyxy, score.astype(np.float32), class_id.astype(np.int64)


def with_objectness_threshold(cfg_text: str, conf: float) -> str:
    """The darknet config with every [yolo]/[region] layer's `thresh` set to `conf`.

    OpenCV's importer zeroes every class score whose objectness is below the layer's `thresh` (0.2 when the
    config gives none), so a detector `conf` below 0.2 silently had no effect. A class score is objectness ×
    class probability ≤ objectness, so `thresh = conf` drops nothing that `conf` would keep.
    """
    out: list[str] = []
    in_output_layer = False
    for line in cfg_text.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            in_output_layer = stripped in ("[yolo]", "[region]")
            out.append(line)
            if in_output_layer:
                out.append(f"thresh = {conf:g}")
            continue
        if in_output_layer and stripped.partition("=")[0].strip() == "thresh":
            continue  # replaced by the line written under the section header
        out.append(line)
    return "\n".join(out) + "\n"


class DarknetDetector(Detector):
    def __init__(self, config: DarknetDetectorConfig, *, weights_dir: Path | None = None) -> None:
        self.config = config
        spec, resolved, weights = locate_model(config.model, "darknet", weights_dir=weights_dir)
        if resolved is not None and spec is not None:
            cfg = resolved.path("config")
            self.name, self.version = spec.name, spec.version
            self.names = spec.names  # the manifest's spelling wins over the .names file
        else:
            cfg = weights.with_suffix(".cfg")
            if not cfg.is_file():
                raise ModelUnavailableError(
                    f"darknet model {weights}: expected its config beside it at {cfg}"
                )
            names_file = next(
                (p for p in (weights.with_suffix(".names"), weights.parent / "coco.names") if p.is_file()),
                None,
            )
            self.name, self.version = weights.stem, file_version(weights)
            self.names = _read_names(names_file)
        self.input_size = config.input_size
        self.batch = config.batch
        cuda_devices = opencv_cuda_devices()
        if config.device.startswith("cuda") and cuda_devices == 0:
            raise ConfigError(
                f"darknet detector: device {config.device!r} needs OpenCV built with CUDA, and this OpenCV "
                f"{cv2.__version__} has none (the opencv-python wheels are CPU-only); "
                "use device='cpu' or 'auto', "
                "or an ultralytics model on the GPU"
            )
        self.device, self.half = resolve_device(
            config.device, half=config.half, cuda_devices=cuda_devices, backend="darknet"
        )
        try:
            cfg_text = with_objectness_threshold(cfg.read_text(encoding="utf-8"), config.conf)
            self.net = cv2.dnn.readNetFromDarknet(
                np.frombuffer(cfg_text.encode(), dtype=np.uint8), np.fromfile(weights, dtype=np.uint8)
            )
        except cv2.error as exc:
            raise ModelUnavailableError(
                f"OpenCV cannot load darknet model {weights} with {cfg}: {exc}"
            ) from exc
        if self.device.startswith("cuda"):
            cv2.cuda.setDevice(int(self.device.split(":")[1]))
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_CUDA)
            self.net.setPreferableTarget(
                cv2.dnn.DNN_TARGET_CUDA_FP16 if self.half else cv2.dnn.DNN_TARGET_CUDA
            )
        else:
            self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
            self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.output_names = self.net.getUnconnectedOutLayersNames()
        n_classes = self._n_classes(cfg)
        if not self.names:
            self.names = {i: f"class_{i}" for i in range(n_classes)}
        elif len(self.names) != n_classes:
            raise ConfigError(
                f"darknet model {self.name!r}: {len(self.names)} class names for {n_classes} classes"
            )
        check_classes(config.classes, self.names, self.name)

    @staticmethod
    def _n_classes(cfg: Path) -> int:
        for line in cfg.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "classes":
                return int(value.strip())
        raise ModelUnavailableError(f"darknet config {cfg} declares no 'classes='")

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        size = self.input_size
        boxed = [letterbox(image, size) for image in images]
        # Letterboxed already at the input size, so blobFromImages only scales, swaps BGR→RGB and stacks.
        blob = cv2.dnn.blobFromImages([b[0] for b in boxed], 1 / 255.0, (size, size), swapRB=True, crop=False)
        self.net.setInput(blob)
        outputs = self.net.forward(self.output_names)
        width = 5 + len(self.names)
        per_image = np.concatenate([o.reshape(len(images), -1, width) for o in outputs], axis=1)
        results = []
        for rows, (_, transform) in zip(per_image, boxed, strict=True):
            xyxy, score, class_id = decode_yolo_rows(rows, self.config.conf, self.config.classes, size)
            if len(xyxy):
                xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
                keep = cv2.dnn.NMSBoxesBatched(
                    xywh.tolist(), score.tolist(), class_id.tolist(), self.config.conf, self.config.nms_iou
                )
                keep = np.asarray(keep, dtype=np.int64).reshape(-1)
                keep = keep[np.argsort(-score[keep], kind="stable")]
                xyxy, score, class_id = transform.to_original(xyxy[keep]), score[keep], class_id[keep]
            results.append(Detections(xyxy=xyxy, confidence=score, class_id=class_id))
        return results
