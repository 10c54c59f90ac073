"""What a pipeline is: a stage fed one frame at a time that returns database writes.

A pipeline never touches the database itself: `process` returns `Write`s (callables taking a Session)
and the worker's single writer thread applies them, so inference never waits on the database and a
restart replays nothing twice (writes are idempotent upserts where the pipeline needs it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.orm import Session

from vigie.vision.frame import Frame

Write = Callable[[Session], None]


@dataclass(frozen=True, slots=True)
class CameraContext:
    """A camera as the pipeline sees it: its database id and configured geometry."""

    camera_id: int
    slug: str
    site_id: int
    calibration_version: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Pipeline(Protocol):
    name: str

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        """Handle one frame of one camera; return the writes it implies (possibly none)."""
        ...

    def close(self) -> Sequence[Write]:
        """Flush pending state (e.g. open bins) when the worker stops."""
        ...


# A pipeline may also define `shutdown() -> None`: the worker calls it once the database writer has
# committed everything, to release what must outlive the last write (webhook threads, engines).
