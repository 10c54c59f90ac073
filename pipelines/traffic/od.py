"""Origin–destination matrix between counting lines: the first and last line each track crossed.

A track's crossings are kept (at most `max_crossings`) until it has not been seen for `ttl_s`; it then
contributes one (origin, destination) pair if it crossed two different lines. Each finished pair is also
queued in `trips` (with the time of its last crossing) for the caller to bin and drain.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from vigie.pipelines.traffic.lines import Crossing


@dataclass(frozen=True, slots=True)
class ODTrip:
    tracker_id: int
    origin: str
    destination: str
    time_s: float  # time of the crossing of the destination line


@dataclass(slots=True)
class _Path:
    lines: list[str]
    last_seen_s: float
    last_crossing_s: float


class ODMatrix:
    def __init__(self, *, ttl_s: float = 5.0, max_crossings: int = 8) -> None:
        self.ttl_s = ttl_s
        self.max_crossings = max_crossings
        self._paths: dict[int, _Path] = {}
        self.pairs: Counter[tuple[str, str]] = Counter()
        self.trips: list[ODTrip] = []  # drained by the caller

    @property
    def state_size(self) -> int:
        return len(self._paths) + len(self.trips)

    def update(self, crossings: list[Crossing], seen_ids: list[int], time_s: float) -> None:
        for tid in seen_ids:
            path = self._paths.get(tid)
            if path is not None:
                path.last_seen_s = time_s
        for c in crossings:
            path = self._paths.get(c.tracker_id)
            if path is None:
                path = self._paths[c.tracker_id] = _Path([], time_s, c.time_s)
            if len(path.lines) < self.max_crossings:
                path.lines.append(c.line)
            else:  # keep the first crossing (origin) and the latest one (destination)
                path.lines[-1] = c.line
            path.last_seen_s, path.last_crossing_s = time_s, c.time_s
        for tid, path in list(self._paths.items()):
            if time_s - path.last_seen_s > self.ttl_s:
                self._finish(tid)

    def _finish(self, tid: int) -> None:
        path = self._paths.pop(tid)
        if len(path.lines) >= 2 and path.lines[0] != path.lines[-1]:
            self.pairs[(path.lines[0], path.lines[-1])] += 1
            self.trips.append(ODTrip(tid, path.lines[0], path.lines[-1], path.last_crossing_s))

    def flush(self) -> Counter[tuple[str, str]]:
        """Close every open path (end of a video) and return the matrix."""
        for tid in list(self._paths):
            self._finish(tid)
        return self.pairs
