"""Origin–destination matrix between counting lines: the first and last line each track crossed.

A track's crossings are kept (at most `max_crossings`) until it has not been seen for `ttl_s`; it then
contributes one (origin, destination) pair if it crossed two different lines.
"""

from __future__ import annotations

from collections import Counter

from vigie.pipelines.traffic.lines import Crossing


class ODMatrix:
    def __init__(self, *, ttl_s: float = 5.0, max_crossings: int = 8) -> None:
        self.ttl_s = ttl_s
        self.max_crossings = max_crossings
        self._paths: dict[int, tuple[list[str], float]] = {}
        self.pairs: Counter[tuple[str, str]] = Counter()

    @property
    def state_size(self) -> int:
        return len(self._paths)

    def update(self, crossings: list[Crossing], seen_ids: list[int], time_s: float) -> None:
        for tid in seen_ids:
            if tid in self._paths:
                self._paths[tid] = (self._paths[tid][0], time_s)
        for c in crossings:
            lines, _ = self._paths.get(c.tracker_id, ([], time_s))
            if len(lines) < self.max_crossings:
                lines.append(c.line)
            self._paths[c.tracker_id] = (lines, time_s)
        for tid, (_, last) in list(self._paths.items()):
            if time_s - last > self.ttl_s:
                self._finish(tid)

    def _finish(self, tid: int) -> None:
        lines, _ = self._paths.pop(tid)
        if len(lines) >= 2 and lines[0] != lines[-1]:
            self.pairs[(lines[0], lines[-1])] += 1

    def flush(self) -> Counter[tuple[str, str]]:
        """Close every open path (end of a video) and return the matrix."""
        for tid in list(self._paths):
            self._finish(tid)
        return self.pairs
