"""Health of one camera source, updated by its reader thread and read by the worker and the API.

States: `starting` (opened, no frame yet), `up` (frames arrive), `down` (an error or a stall; the source is
reconnecting, or a file failed), `ended` (a finite source, file or image folder, delivered its last frame:
finished, not broken), `closed` (the caller closed it before its end). `ended` and `closed` are final. The
worker copies `snapshot()` into the database and the API on its own schedule; nothing here does I/O.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from vigie.vision.frame import utc_now

SourceState = Literal["starting", "up", "down", "ended", "closed"]
# Final states: nothing a late reader or error reports changes them.
_FINAL_STATES = frozenset({"ended", "closed"})


@dataclass
class SourceHealth:
    """Counters and state of one source. Mutate only through the methods: they hold the lock.

    `reconnects` counts reconnection attempts after a failure (not the first connection), so a camera that
    flaps or stays unreachable shows a growing number. `frames_dropped` counts frames lost to the pipeline
    (stale in the bounded queue, corrupt packets or images); frames skipped on purpose by `target_fps`
    sampling are not counted here, only in the `vigie_frames_dropped_total{reason="sampling"}` metric.
    """

    camera_id: str
    state: SourceState = "starting"
    last_frame_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    reconnects: int = 0
    frames_read: int = 0
    frames_dropped: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def frame_read(self, at: datetime | None = None) -> bool:
        """Count a frame; True when this frame brought the source (back) up, for logging the transition."""
        with self._lock:
            self.frames_read += 1
            self.last_frame_at = at or utc_now()
            if self.state in ("starting", "down"):
                self.state = "up"
                return True
            return False

    def dropped(self, count: int = 1) -> None:
        with self._lock:
            self.frames_dropped += count

    def error(self, message: str) -> None:
        """Record a non-fatal problem (a corrupt packet) without changing the state."""
        with self._lock:
            self.last_error = message
            self.last_error_at = utc_now()

    def down(self, message: str) -> None:
        """The source stopped delivering: it will reconnect (live) or has failed (file)."""
        with self._lock:
            if self.state in _FINAL_STATES:
                return
            self.state = "down"
            self.last_error = message
            self.last_error_at = utc_now()

    def reconnecting(self) -> None:
        with self._lock:
            self.reconnects += 1

    def ended(self) -> None:
        """A finite source delivered its last frame; a failed one (`down`) stays down."""
        with self._lock:
            if self.state not in _FINAL_STATES and self.state != "down":
                self.state = "ended"

    def closed(self) -> None:
        """The caller released the source; an `ended` source keeps saying it finished."""
        with self._lock:
            if self.state != "ended":
                self.state = "closed"

    def snapshot(self) -> dict[str, object]:
        """A consistent copy as a plain dict (datetimes stay timezone-aware `datetime` objects)."""
        with self._lock:
            return {
                "camera_id": self.camera_id,
                "state": self.state,
                "last_frame_at": self.last_frame_at,
                "last_error": self.last_error,
                "last_error_at": self.last_error_at,
                "reconnects": self.reconnects,
                "frames_read": self.frames_read,
                "frames_dropped": self.frames_dropped,
            }
