"""Synthetic smoke sequences: the real plume video composited onto the real lookout background.

The plume (`test_smoke.mp4`, filmed on black) is blended with an alpha taken from its brightness, scaled
and placed so that its base (where it leaves the ground) lands on a chosen pixel of the background
(`test_bg.mp4`). The ground truth is exact: the plume's box in every frame and its base column, from which
the true azimuth follows with the camera's heading and field of view.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from vigie.errors import InvalidInputError, NotFoundError

PLUME_VIDEO = "test_smoke.mp4"
BACKGROUND_VIDEO = "test_bg.mp4"
ALPHA_GAIN = 1.6  # plume brightness → opacity; >1 so that the dense core hides the background
ALPHA_FLOOR = 12  # grey level under which the plume video is black (compression noise)


def read_video(path: Path, *, max_frames: int | None = None) -> list[np.ndarray]:
    if not path.is_file():
        raise NotFoundError(f"video {path} does not exist")
    capture = cv2.VideoCapture(str(path))
    frames: list[np.ndarray] = []
    try:
        while max_frames is None or len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    if not frames:
        raise InvalidInputError(f"video {path}: no frame could be decoded")
    return frames


@dataclass(frozen=True, slots=True)
class Plume:
    """The plume video cropped to where smoke ever appears, with its alpha and base point."""

    frames: list[np.ndarray]  # BGR crops
    alphas: list[np.ndarray]  # float32 0–1, same size
    base_x: float  # base of the plume in crop pixels
    base_y: float

    @classmethod
    def load(cls, folder: Path) -> Plume:
        frames = read_video(folder / PLUME_VIDEO)
        grey = np.stack([cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames])
        ys, xs = np.nonzero(grey.max(axis=0) > ALPHA_FLOOR)
        if not len(xs):
            raise InvalidInputError(f"{folder / PLUME_VIDEO}: no plume found (all frames black)")
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        # The base: the brightest columns of the bottom rows, averaged over the video.
        bottom = grey[:, max(y2 - 20, y1) : y2, x1:x2].astype(np.float32).sum(axis=(0, 1))
        base_x = float((bottom * np.arange(x1, x2)).sum() / max(bottom.sum(), 1e-6)) - x1
        crops = [f[y1:y2, x1:x2] for f in frames]
        alphas = [
            np.clip((g[y1:y2, x1:x2].astype(np.float32) - ALPHA_FLOOR) * ALPHA_GAIN / 255.0, 0, 1)
            for g in grey
        ]
        return cls(frames=crops, alphas=alphas, base_x=base_x, base_y=float(y2 - y1))

    def __len__(self) -> int:
        return len(self.frames)


def composite(
    background: np.ndarray,
    plume: Plume,
    index: int,
    *,
    base_x: float,
    base_y: float,
    scale: float,
    opacity: float = 1.0,
) -> tuple[np.ndarray, tuple[float, float, float, float] | None]:
    """Blend plume frame `index` onto `background` with its base at pixel (base_x, base_y).

    Returns the image and the plume's box (pixels where its alpha is above 0.1), or None when nothing of
    it is visible.
    """
    if scale <= 0:
        raise InvalidInputError(f"plume scale {scale}: expected > 0")
    crop = plume.frames[index % len(plume)]
    alpha = plume.alphas[index % len(plume)] * float(opacity)
    h, w = crop.shape[:2]
    sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
    crop = cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(alpha, (sw, sh), interpolation=cv2.INTER_AREA)
    ox = round(base_x - plume.base_x * scale)
    oy = round(base_y - plume.base_y * scale)
    H, W = background.shape[:2]
    x1, y1, x2, y2 = max(ox, 0), max(oy, 0), min(ox + sw, W), min(oy + sh, H)
    out = background.copy()
    if x2 <= x1 or y2 <= y1:
        return out, None
    a = alpha[y1 - oy : y2 - oy, x1 - ox : x2 - ox, None]
    src = crop[y1 - oy : y2 - oy, x1 - ox : x2 - ox].astype(np.float32)
    # Smoke lightens what is behind it: blend towards the plume's own (grey-white) colour.
    region = out[y1:y2, x1:x2].astype(np.float32)
    out[y1:y2, x1:x2] = np.clip(region * (1 - a) + np.maximum(src, region) * a, 0, 255).astype(np.uint8)
    ys, xs = np.nonzero(a[..., 0] > 0.1)
    if not len(xs):
        return out, None
    return out, (
        float(x1 + xs.min()),
        float(y1 + ys.min()),
        float(x1 + xs.max() + 1),
        float(y1 + ys.max() + 1),
    )


@dataclass(frozen=True, slots=True)
class SyntheticFrame:
    image: np.ndarray
    index: int
    captured_at: datetime
    box: tuple[float, float, float, float] | None  # ground truth plume box, None before it starts


def synthetic_sequence(
    backgrounds: list[np.ndarray],
    plume: Plume | None,
    *,
    frames: int,
    start: int | None,
    base_x: float,
    base_y: float,
    scale: float,
    interval_s: float = 10.0,
    plume_step: int = 4,
    t0: datetime,
) -> Iterator[SyntheticFrame]:
    """A camera's frames every `interval_s`: the background (ping-pong looped), with the plume from `start`.

    The plume advances `plume_step` video frames per camera frame (it grows, as a real plume does over
    minutes). `start=None` or `plume=None` gives a negative sequence.
    """
    if not backgrounds:
        raise InvalidInputError("synthetic_sequence: expected at least one background frame")
    cycle = backgrounds + backgrounds[-2:0:-1] if len(backgrounds) > 2 else backgrounds
    for i in range(frames):
        bg = cycle[i % len(cycle)]
        at = t0 + timedelta(seconds=i * interval_s)
        if plume is None or start is None or i < start:
            yield SyntheticFrame(image=bg.copy(), index=i, captured_at=at, box=None)
            continue
        k = min((i - start) * plume_step, len(plume) - 1)
        image, box = composite(bg, plume, k, base_x=base_x, base_y=base_y, scale=scale)
        yield SyntheticFrame(image=image, index=i, captured_at=at, box=box)
