"""One image taken from a source, with where and when it was taken."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from vigie.errors import InvalidInputError


@dataclass(frozen=True, slots=True)
class Frame:
    """A BGR uint8 image (H×W×3) from one camera.

    `captured_at` is timezone-aware UTC; `sequence` counts frames delivered by the source (0-based) so that
    gaps show dropped frames; `source_time_s` is the media timestamp inside the stream or file, if any.
    """

    image: np.ndarray
    camera_id: str
    captured_at: datetime
    sequence: int = 0
    source_time_s: float | None = None
    metadata: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        img = self.image
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            got = f"{type(img).__name__} {getattr(img, 'shape', '')} {getattr(img, 'dtype', '')}".strip()
            raise InvalidInputError(
                f"frame from camera {self.camera_id!r}: expected a BGR uint8 image of shape H×W×3, got {got}"
            )
        if img.shape[0] == 0 or img.shape[1] == 0:
            raise InvalidInputError(f"frame from camera {self.camera_id!r}: image is empty {img.shape}")
        if self.captured_at.tzinfo is None or self.captured_at.utcoffset() is None:
            raise InvalidInputError(
                f"frame from camera {self.camera_id!r}: captured_at must be timezone-aware (UTC), "
                f"got naive {self.captured_at.isoformat()}"
            )
        if self.captured_at.utcoffset().total_seconds() != 0:
            object.__setattr__(self, "captured_at", self.captured_at.astimezone(UTC))

    @property
    def height(self) -> int:
        return int(self.image.shape[0])

    @property
    def width(self) -> int:
        return int(self.image.shape[1])


def utc_now() -> datetime:
    return datetime.now(UTC)
