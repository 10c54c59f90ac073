"""Zones: occupancy (tracks inside now) and dwell time (how long each track stayed) of a polygon.

A track is inside when its reference point is in the polygon; it enters after `min_frames` observations
inside and leaves after `min_frames` outside, or when unseen for `ttl_s` (state is purged then, so memory
is bounded by the tracks seen recently).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigie.errors import InvalidInputError


@dataclass(slots=True)
class _Presence:
    inside: bool
    streak: int  # consecutive observations disagreeing with `inside`
    entered_s: float | None
    last_seen_s: float


@dataclass(frozen=True, slots=True)
class ZoneEvent:
    zone: str
    tracker_id: int
    kind: str  # "enter" or "exit"
    time_s: float
    dwell_s: float | None = None  # on exit
    class_name: str | None = None  # set by CameraCounter from the track's vote


class ZoneMonitor:
    def __init__(
        self, name: str, polygon: list[tuple[float, float]], *, min_frames: int = 2, ttl_s: float = 5.0
    ):
        pts = np.asarray(polygon, dtype=np.float32)
        if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) < 3:
            raise InvalidInputError(f"zone {name!r}: expected a polygon of at least 3 (x, y) points")
        if abs(cv2.contourArea(pts)) < 1.0:
            raise InvalidInputError(f"zone {name!r}: the polygon has no area")
        self.name = name
        self.polygon = pts
        self.min_frames = min_frames
        self.ttl_s = ttl_s
        self._tracks: dict[int, _Presence] = {}

    @property
    def occupancy(self) -> int:
        return sum(1 for p in self._tracks.values() if p.inside)

    def inside_ids(self) -> list[int]:
        return [tid for tid, p in self._tracks.items() if p.inside]

    @property
    def state_size(self) -> int:
        return len(self._tracks)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.array(
            [cv2.pointPolygonTest(self.polygon, (float(x), float(y)), False) >= 0 for x, y in points],
            dtype=bool,
        )

    def update(self, tracker_ids: np.ndarray, points: np.ndarray, time_s: float) -> list[ZoneEvent]:
        events: list[ZoneEvent] = []
        ids = np.asarray(tracker_ids, dtype=np.int64).reshape(-1)
        inside = self.contains(np.asarray(points, dtype=np.float64).reshape(-1, 2))
        for tid, now_in in zip(ids.tolist(), inside.tolist(), strict=True):
            p = self._tracks.get(tid)
            if p is None:
                # First seen inside counts as an entry once confirmed; first seen outside is simply outside.
                p = self._tracks[tid] = _Presence(inside=False, streak=0, entered_s=None, last_seen_s=time_s)
            p.last_seen_s = time_s
            if now_in == p.inside:
                p.streak = 0
                continue
            p.streak += 1
            if p.streak < self.min_frames:
                continue
            p.inside, p.streak = now_in, 0
            if now_in:
                p.entered_s = time_s
                events.append(ZoneEvent(self.name, tid, "enter", time_s))
            else:
                events.append(self._exit(tid, p, time_s))
        for tid, p in list(self._tracks.items()):
            if time_s - p.last_seen_s > self.ttl_s:
                if p.inside:
                    events.append(self._exit(tid, p, p.last_seen_s))
                del self._tracks[tid]
        return events

    def _exit(self, tid: int, p: _Presence, time_s: float) -> ZoneEvent:
        dwell = None if p.entered_s is None else time_s - p.entered_s
        p.entered_s = None
        return ZoneEvent(self.name, tid, "exit", time_s, dwell)
