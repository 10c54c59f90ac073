"""Detection helpers for small, far vehicles: one class-agnostic NMS pass, and overlapping tiles.

`agnostic_nms`: the detector's NMS is class-wise, so one vehicle boxed both `car` and `truck` gives two
rows, hence two tracks and possibly two counts; keeping the higher-scored of two heavily overlapping boxes
whatever their class leaves one box per vehicle (the class is decided by the track's vote anyway).

`TiledDetector`: runs the detector on overlapping tiles of the frame in one batch (each tile is upscaled to
the network input, so small vehicles get more pixels), shifts the boxes back to the full frame, drops
boxes cut by an inner tile edge when another tile sees them whole, and merges with `agnostic_nms`.
"""

from __future__ import annotations

import cv2
import numpy as np

from vigie.errors import ConfigError
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame


def agnostic_nms(detections: Detections, iou: float) -> Detections:
    """Keep, among boxes overlapping by more than `iou` whatever their class, the highest-scored one."""
    if len(detections) < 2:
        return detections
    xyxy = detections.xyxy.astype(np.float32)
    xywh = np.column_stack([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]])
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), detections.confidence.astype(float).tolist(), 0.0, float(iou))
    keep = np.sort(np.asarray(keep, dtype=np.int64).reshape(-1))
    return detections[keep]


def tile_origins(
    width: int, height: int, grid: tuple[int, int], overlap: float
) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) of `grid` = (columns, rows) tiles covering the frame, neighbours sharing `overlap`
    of a tile's size."""
    cols, rows = grid
    if cols < 1 or rows < 1 or not 0 <= overlap < 1:
        raise ConfigError(
            f"tiles {grid} with overlap {overlap}: expected ≥ 1 column and row, 0 ≤ overlap < 1"
        )
    tw = int(np.ceil(width / (cols - (cols - 1) * overlap)))
    th = int(np.ceil(height / (rows - (rows - 1) * overlap)))
    xs = np.linspace(0, width - tw, cols).round().astype(int) if cols > 1 else [0]
    ys = np.linspace(0, height - th, rows).round().astype(int) if rows > 1 else [0]
    return [(int(x), int(y), int(x) + tw, int(y) + th) for y in ys for x in xs]


class TiledDetector:
    """A `Detector` look-alike (detect, names, name, version) running `detector` on tiles of each frame."""

    def __init__(
        self,
        detector: Detector,
        *,
        grid: tuple[int, int] = (2, 2),
        overlap: float = 0.25,
        nms_iou: float = 0.6,
    ) -> None:
        self.detector = detector
        self.grid = grid
        self.overlap = overlap
        self.nms_iou = nms_iou
        self.names, self.name, self.version = detector.names, detector.name, detector.version
        self.device = getattr(detector, "device", "cpu")

    def detect(self, frame: Frame | np.ndarray) -> Detections:
        image = frame.image if isinstance(frame, Frame) else frame
        h, w = image.shape[:2]
        tiles = tile_origins(w, h, self.grid, self.overlap)
        found = self.detector.detect_batch([image[y0:y1, x0:x1] for x0, y0, x1, y1 in tiles])
        parts = []
        for (x0, y0, x1, y1), dets in zip(tiles, found, strict=True):
            if not len(dets):
                continue
            b = dets.xyxy
            # A box touching an inner tile edge is cut; the neighbouring tile sees that vehicle whole.
            margin = 2.0
            cut = ((b[:, 0] <= margin) & (x0 > 0)) | ((b[:, 2] >= x1 - x0 - margin) & (x1 < w))
            cut |= ((b[:, 1] <= margin) & (y0 > 0)) | ((b[:, 3] >= y1 - y0 - margin) & (y1 < h))
            dets = dets[~cut]
            dets.xyxy = dets.xyxy + np.array([x0, y0, x0, y0], dtype=dets.xyxy.dtype)
            parts.append(dets)
        if not parts:
            return found[0]  # every tile empty
        merged = Detections(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
        )
        merged.names = dict(self.names)
        return agnostic_nms(merged, self.nms_iou)
