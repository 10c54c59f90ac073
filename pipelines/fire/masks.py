"""Per-camera occlusion masks: polygons (full-frame pixels) where detections are ignored."""

from __future__ import annotations

import numpy as np
from shapely import prepared
from shapely.geometry import Point, Polygon, box

from vigie.errors import ConfigError
from vigie.vision.detections import Detections


class CameraMasks:
    """Decides which boxes of one camera fall in its masks (centre inside, or enough of the area)."""

    def __init__(self, camera: str, polygons: list[list[tuple[float, float]]], min_fraction: float) -> None:
        self.camera = camera
        self.min_fraction = min_fraction
        self.polygons = []
        for i, points in enumerate(polygons):
            poly = Polygon(points)
            if not poly.is_valid or poly.area <= 0:
                raise ConfigError(f"fire.masks.{camera}[{i}]: polygon {points} is not a valid area")
            self.polygons.append(poly)
        self._prepared = [prepared.prep(p) for p in self.polygons]

    def masked(self, detections: Detections) -> np.ndarray:
        """Boolean per detection: True when it must be ignored."""
        out = np.zeros(len(detections), dtype=bool)
        if not self.polygons:
            return out
        centres = detections.anchors("center")
        for i, (xyxy, (cx, cy)) in enumerate(zip(detections.xyxy, centres, strict=True)):
            if any(p.contains(Point(float(cx), float(cy))) for p in self._prepared):
                out[i] = True
                continue
            b = box(*(float(v) for v in xyxy))
            if b.area > 0:
                covered = sum(b.intersection(p).area for p in self.polygons)
                out[i] = covered / b.area >= self.min_fraction
        return out
