"""Directional counting lines: a track counts once per line and direction when its reference point has
really crossed.

Side convention (the one of the hand counts in the shared datasets): for a line from A=(x1, y1) to
B=(x2, y2), s = (x2−x1)(y−y1) − (y2−y1)(x−x1) in image coordinates (y down). Crossing from s > 0 to s < 0
is direction `out`, from s < 0 to s > 0 is `in`; each can carry a human label ("towards centre").

Why not a plain sign change (supervision's LineZone): boxes flicker, so the reference point wobbles around
the line. Here a side is only taken when the point is more than `band_px` from the line (hysteresis) and
stays on the new side for `min_frames` observations; points inside the band neither confirm nor cancel.
The per-track state lives as long as `ttl_s` after the track was last seen, so a vehicle the detector
misses for a few frames right at the line is still counted when its track resumes beyond it. State is a
dict of small records purged by age: memory is bounded by the number of tracks seen within `ttl_s`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from vigie.errors import InvalidInputError

Direction = Literal["in", "out"]
DIRECTIONS: tuple[Direction, Direction] = ("in", "out")


@dataclass(frozen=True, slots=True)
class LineGeometry:
    """A segment in image pixels with its unit normal; `signed_distance` is s / |AB| (pixels)."""

    x1: float
    y1: float
    x2: float
    y2: float

    def __post_init__(self) -> None:
        values = (self.x1, self.y1, self.x2, self.y2)
        if not all(math.isfinite(v) for v in values):
            raise InvalidInputError(f"counting line {values}: coordinates must be finite numbers")
        if self.length < 1.0:
            raise InvalidInputError(
                f"counting line ({self.x1}, {self.y1}) → ({self.x2}, {self.y2}): zero length; "
                "expected two distinct points at least 1 px apart"
            )

    @property
    def length(self) -> float:
        return math.hypot(self.x2 - self.x1, self.y2 - self.y1)

    def signed_distance(self, points: np.ndarray) -> np.ndarray:
        """Signed distance (pixels) of (N, 2) points; > 0 on the `s > 0` side."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        s = (self.x2 - self.x1) * (p[:, 1] - self.y1) - (self.y2 - self.y1) * (p[:, 0] - self.x1)
        return s / self.length

    def position_along(self, points: np.ndarray) -> np.ndarray:
        """Projection of points on the segment, 0 at A and 1 at B (outside [0, 1] beyond the ends)."""
        p = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        dx, dy = self.x2 - self.x1, self.y2 - self.y1
        return ((p[:, 0] - self.x1) * dx + (p[:, 1] - self.y1) * dy) / (self.length**2)

    def check_inside(self, width: int, height: int, *, name: str) -> None:
        """Refuse a line with an end outside a `width`×`height` frame (a typo, or the wrong camera)."""
        for x, y in ((self.x1, self.y1), (self.x2, self.y2)):
            if not (0 <= x <= width and 0 <= y <= height):
                raise InvalidInputError(
                    f"counting line {name!r}: end point ({x:g}, {y:g}) is outside the {width}×{height} "
                    f"frame; expected 0 ≤ x ≤ {width} and 0 ≤ y ≤ {height}"
                )


@dataclass(frozen=True, slots=True)
class Crossing:
    """One counted crossing: which track, which line, which way, when and where along the line (0..1)."""

    line: str
    direction: Direction
    tracker_id: int
    time_s: float
    position: float
    index: int  # row of the detection (in the update's input) that confirmed the crossing


@dataclass(slots=True)
class _TrackSide:
    side: int  # confirmed side: +1 (s > 0) or −1
    last_seen_s: float
    last_point_on_side: tuple[float, float]
    candidate_frames: int = 0
    first_point_beyond: tuple[float, float] | None = None
    counted: set[str] = field(default_factory=set)


class LineCounter:
    """Counts crossings of one line by tracked reference points; feed it every processed frame in order."""

    def __init__(
        self,
        name: str,
        geometry: LineGeometry,
        *,
        band_px: float = 3.0,
        min_frames: int = 2,
        end_margin: float = 0.05,
        ttl_s: float = 5.0,
        directions: tuple[Direction, ...] = DIRECTIONS,
    ) -> None:
        if band_px < 0 or not math.isfinite(band_px):
            raise InvalidInputError(f"line {name!r}: band_px must be a finite number >= 0, got {band_px}")
        if min_frames < 1:
            raise InvalidInputError(f"line {name!r}: min_frames must be >= 1, got {min_frames}")
        if ttl_s <= 0:
            raise InvalidInputError(f"line {name!r}: ttl_s must be > 0, got {ttl_s}")
        unknown = set(directions) - set(DIRECTIONS)
        if unknown or not directions:
            raise InvalidInputError(f"line {name!r}: directions must be a non-empty subset of in/out")
        self.name = name
        self.geometry = geometry
        self.band_px = band_px
        self.min_frames = min_frames
        self.end_margin = end_margin
        self.ttl_s = ttl_s
        self.directions = frozenset(directions)
        self._tracks: dict[int, _TrackSide] = {}

    @property
    def state_size(self) -> int:
        """Tracks remembered: bounded by the tracks seen within `ttl_s`."""
        return len(self._tracks)

    def update(self, tracker_ids: np.ndarray, points: np.ndarray, time_s: float) -> list[Crossing]:
        """Advance with this frame's tracked reference points ((N,) ids, (N, 2) pixels) at `time_s` (s)."""
        ids = np.asarray(tracker_ids, dtype=np.int64).reshape(-1)
        pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        if len(ids) != len(pts):
            raise InvalidInputError(f"line {self.name!r}: {len(ids)} tracker ids for {len(pts)} points")
        crossings: list[Crossing] = []
        distances = self.geometry.signed_distance(pts)
        for index, (tid, point, d) in enumerate(zip(ids.tolist(), pts, distances.tolist(), strict=True)):
            xy = (float(point[0]), float(point[1]))
            observed = 1 if d > self.band_px else -1 if d < -self.band_px else 0
            state = self._tracks.get(tid)
            if state is None:
                if observed != 0:  # a track first seen inside the band waits until it leaves it
                    self._tracks[tid] = _TrackSide(side=observed, last_seen_s=time_s, last_point_on_side=xy)
                continue
            state.last_seen_s = time_s
            if observed == 0:
                continue  # inside the band: neither confirms nor cancels a crossing in progress
            if observed == state.side:
                state.candidate_frames = 0
                state.first_point_beyond = None
                state.last_point_on_side = xy
                continue
            state.candidate_frames += 1
            if state.first_point_beyond is None:
                state.first_point_beyond = xy
            if state.candidate_frames < self.min_frames:
                continue
            direction: Direction = "out" if state.side > 0 else "in"
            position = self._crossing_position(state.last_point_on_side, state.first_point_beyond)
            state.side = observed
            state.candidate_frames = 0
            state.last_point_on_side = xy
            state.first_point_beyond = None
            inside = -self.end_margin <= position <= 1 + self.end_margin
            if inside and direction in self.directions and direction not in state.counted:
                state.counted.add(direction)
                crossings.append(Crossing(self.name, direction, tid, time_s, position, index))
        self._expire(time_s)
        return crossings

    def _crossing_position(self, before: tuple[float, float], after: tuple[float, float]) -> float:
        """Where along the line (0..1) the path from `before` to `after` cuts it."""
        d0, d1 = self.geometry.signed_distance(np.array([before, after]))
        t = d0 / (d0 - d1) if d0 != d1 else 0.5
        x = before[0] + t * (after[0] - before[0])
        y = before[1] + t * (after[1] - before[1])
        return float(self.geometry.position_along(np.array([x, y]))[0])

    def _expire(self, now_s: float) -> None:
        stale = [tid for tid, s in self._tracks.items() if now_s - s.last_seen_s > self.ttl_s]
        for tid in stale:
            del self._tracks[tid]

    def reset(self) -> None:
        """Forget every track (the stream restarted: tracker ids start again)."""
        self._tracks.clear()
