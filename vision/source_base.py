"""The one small interface every camera source implements, and the frame-rate sampler they share."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from types import TracebackType
from typing import Self, overload

from vigie.observability import FRAMES_DROPPED
from vigie.vision.frame import Frame
from vigie.vision.health import SourceHealth


class FrameSampler:
    """Keeps a frame when its media time has advanced by at least 1/target_fps since the last kept one.

    A tolerance of 1% of the period absorbs time-base rounding (three frames of a 30 fps file are 0.0999…
    s apart, which must still pass a 10 fps target). A time going backwards (a new RTSP session, a loop)
    restarts the schedule.
    """

    def __init__(self, target_fps: float | None) -> None:
        self._period = 1.0 / target_fps if target_fps else 0.0
        self._last_kept: float | None = None

    def keep(self, media_time_s: float) -> bool:
        if self._period == 0.0:
            return True
        last = self._last_kept
        if last is None or media_time_s < last or media_time_s - last >= self._period * 0.99:
            self._last_kept = media_time_s
            return True
        return False

    def reset(self) -> None:
        self._last_kept = None


class Source(ABC):
    """A camera, file or image folder delivering `Frame`s. Use as a context manager, or call `close()`.

    `frames()` yields frames until the source ends (files) or `close()` is called (live sources, which
    reconnect by themselves). `frames(timeout_s)` also yields `None` whenever no frame arrived within
    `timeout_s`, so that a worker loop can publish `health` and check its own stop flag between frames.
    """

    def __init__(self, camera_id: str) -> None:
        self.camera_id = camera_id
        self.health = SourceHealth(camera_id=camera_id)

    @abstractmethod
    def open(self) -> None:
        """Open the file or start the reader; raises `SourceError` when it cannot start at all."""

    @overload
    def frames(self) -> Iterator[Frame]: ...

    @overload
    def frames(self, timeout_s: float) -> Iterator[Frame | None]: ...

    def frames(self, timeout_s: float | None = None) -> Iterator[Frame | None]:
        return self._frames(timeout_s)

    @abstractmethod
    def _frames(self, timeout_s: float | None) -> Iterator[Frame | None]: ...

    @abstractmethod
    def close(self) -> None:
        """Release the file or stop the reader; idempotent, never blocks for long."""

    def _count_sampled_out(self) -> None:
        FRAMES_DROPPED.labels(camera=self.camera_id, reason="sampling").inc()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
