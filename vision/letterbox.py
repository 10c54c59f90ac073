"""Letterbox resizing: fit an image into a fixed network input keeping its aspect ratio, pad the rest.

`LetterboxTransform` records the scale and padding so boxes found on the network input map back to
the original image (and the other way, for tests and for drawing).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigie.errors import InvalidInputError

PAD_VALUE = 114  # mid-grey, the value YOLO models were trained with


@dataclass(frozen=True, slots=True)
class LetterboxTransform:
    """original pixel → input pixel: `x_in = x * scale + pad_x`, `y_in = y * scale + pad_y`."""

    scale: float
    pad_x: float
    pad_y: float
    original_hw: tuple[int, int]
    input_hw: tuple[int, int]

    def to_original(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes on the network input → boxes on the original image, clipped to it."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - self.pad_x) / self.scale
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - self.pad_y) / self.scale
        h, w = self.original_hw
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        return boxes

    def to_input(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes on the original image → boxes on the network input."""
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4).copy()
        boxes[:, [0, 2]] = boxes[:, [0, 2]] * self.scale + self.pad_x
        boxes[:, [1, 3]] = boxes[:, [1, 3]] * self.scale + self.pad_y
        return boxes


def letterbox(
    image: np.ndarray, size: int | tuple[int, int], *, pad_value: int = PAD_VALUE
) -> tuple[np.ndarray, LetterboxTransform]:
    """Resize `image` (H×W×C) to fit `size` (square side, or (height, width)) and pad it centred."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInputError(
            f"letterbox: expected a non-empty H×W×C image, got {getattr(image, 'shape', image)}"
        )
    in_h, in_w = (size, size) if isinstance(size, int) else size
    if in_h <= 0 or in_w <= 0:
        raise InvalidInputError(f"letterbox: size must be positive, got {size}")
    h, w = image.shape[:2]
    scale = min(in_h / h, in_w / w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = (
        image if (new_w, new_h) == (w, h) else cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    )
    pad_x, pad_y = (in_w - new_w) // 2, (in_h - new_h) // 2
    out = np.full((in_h, in_w, image.shape[2]), pad_value, dtype=image.dtype)
    out[pad_y : pad_y + new_h, pad_x : pad_x + new_w] = resized
    # The exact per-axis scale after rounding would differ slightly; one scale keeps the mapping simple and
    # the rounding error is below half a pixel on the input.
    return out, LetterboxTransform(scale, float(pad_x), float(pad_y), (h, w), (in_h, in_w))
