"""Debug frames without personal data: faces and plates blurred before anything touches the disk.

Faces: the upper third of every person box (where the head is), plus OpenCV's frontal-face Haar cascade
for faces outside a detected person. Plates: the plate model from the manifest (`plate-yolov8n`) when it
loads, else OpenCV's plate Haar cascade. Only used when `debug_frames_dir` is configured.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from vigie.errors import ModelUnavailableError
from vigie.vision.detections import Detections

log = logging.getLogger(__name__)


def grown_box(box: np.ndarray, shape: tuple[int, ...], grow: float = 0.15) -> tuple[int, int, int, int]:
    """Pixel slice bounds (x0, y0, x1, y1) of an (x1, y1, x2, y2) box grown by `grow` of its size, clipped."""
    x1, y1, x2, y2 = (float(v) for v in box)
    h, w = shape[:2]
    gx, gy = (x2 - x1) * grow, (y2 - y1) * grow
    return int(max(0, x1 - gx)), int(max(0, y1 - gy)), int(min(w, x2 + gx + 1)), int(min(h, y2 + gy + 1))


def blur_boxes(image: np.ndarray, boxes: np.ndarray, *, grow: float = 0.15) -> np.ndarray:
    """A copy of `image` with each (x1, y1, x2, y2) box, grown by `grow` of its size, heavily blurred;
    every pixel outside the grown boxes is left as it was."""
    out = image.copy()
    for box in np.asarray(boxes, dtype=np.float64).reshape(-1, 4):
        a, b, c, d = grown_box(box, out.shape, grow)
        if c - a < 2 or d - b < 2:
            continue
        k = max(3, (max(c - a, d - b) // 2) | 1)
        out[b:d, a:c] = cv2.GaussianBlur(out[b:d, a:c], (k, k), 0)
    return out


def head_boxes(people: np.ndarray) -> np.ndarray:
    """Upper third of each person box."""
    p = np.asarray(people, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([p[:, 0], p[:, 1], p[:, 2], p[:, 1] + (p[:, 3] - p[:, 1]) / 3])


class Anonymiser:
    def __init__(self, *, weights_dir: Path | None = None) -> None:
        self.faces = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
        self.plates_cascade = cv2.CascadeClassifier(
            cv2.data.haarcascades + "haarcascade_russian_plate_number.xml"
        )
        self.plate_detector = None
        try:
            from vigie.vision.detector import UltralyticsDetectorConfig, build_detector

            self.plate_detector = build_detector(
                UltralyticsDetectorConfig(model="plate-yolov8n", conf=0.2, device="cpu"),
                weights_dir=weights_dir,
            )
        except ModelUnavailableError as exc:
            log.warning("debug frames: plate model unavailable (%s); using the Haar plate cascade", exc)

    def __call__(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        return blur_boxes(image, self.regions(image, detections))

    def regions(self, image: np.ndarray, detections: Detections) -> np.ndarray:
        """(N, 4) boxes to blur: heads of detected people, faces and plates found in `image`."""
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        regions = [head_boxes(detections.xyxy[detections.class_name == "person"])]
        faces = self.faces.detectMultiScale(gray, 1.1, 4)
        if len(faces):
            regions.append(np.column_stack([faces[:, :2], faces[:, :2] + faces[:, 2:]]))
        if self.plate_detector is not None:
            regions.append(self.plate_detector.detect(image).xyxy)
        else:
            plates = self.plates_cascade.detectMultiScale(gray, 1.1, 3)
            if len(plates):
                regions.append(np.column_stack([plates[:, :2], plates[:, :2] + plates[:, 2:]]))
        return np.concatenate([np.asarray(r, dtype=np.float64).reshape(-1, 4) for r in regions])
