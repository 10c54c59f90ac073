"""Speeds of tracked vehicles on a calibrated road plane (see `vigie.calibration.homography`).

Each track keeps its last few road positions (a bounded deque); the speed at a crossing is the distance
travelled over the last `window_s` seconds divided by the elapsed time. Over a window, rather than frame
to frame, because a box's bottom edge jitters by a pixel or two, which is metres far from the camera.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from vigie.calibration.homography import RoadHomography
from vigie.errors import InvalidInputError


class SpeedEstimator:
    def __init__(
        self, homography: RoadHomography, *, window_s: float = 1.0, ttl_s: float = 5.0, history: int = 64
    ):
        if window_s <= 0:
            raise InvalidInputError(f"speed window_s must be > 0, got {window_s}")
        self.homography = homography
        self.window_s = window_s
        self.ttl_s = ttl_s
        self.history = history
        self._tracks: dict[int, deque[tuple[float, float, float]]] = {}

    @property
    def state_size(self) -> int:
        return len(self._tracks)

    def update(self, tracker_ids: np.ndarray, points_px: np.ndarray, time_s: float) -> None:
        ids = np.asarray(tracker_ids, dtype=np.int64).reshape(-1)
        if len(ids):
            world = self.homography.to_world(np.asarray(points_px, dtype=np.float64).reshape(-1, 2))
            for tid, (x, y) in zip(ids.tolist(), world.tolist(), strict=True):
                track = self._tracks.setdefault(tid, deque(maxlen=self.history))
                track.append((time_s, x, y))
        stale = [tid for tid, h in self._tracks.items() if time_s - h[-1][0] > self.ttl_s]
        for tid in stale:
            del self._tracks[tid]

    def speed_kmh(self, tracker_id: int) -> float | None:
        """Speed over the last `window_s` (None when the track is too short to tell)."""
        track = self._tracks.get(tracker_id)
        if not track or len(track) < 2:
            return None
        t1, x1, y1 = track[-1]
        start = next((p for p in track if t1 - p[0] <= self.window_s), track[0])
        if start is track[-1]:
            start = track[-2]
        t0, x0, y0 = start
        if t1 - t0 <= 0:
            return None
        return math.hypot(x1 - x0, y1 - y0) / (t1 - t0) * 3.6
