"""Is a citizen photo usable at all? Size, orientation, darkness (night) and blur, before any geometry."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from vigie.errors import InvalidInputError

MIN_SHORT_SIDE_PX = 480
# Mean luma below this (0-255) is a night or badly under-exposed photo: the water/sand contrast is gone.
MIN_MEAN_LUMA = 40.0
# Variance of the Laplacian of the photo resized to 1024 px wide; sharp beach photos give hundreds, a
# motion-blurred or fogged-lens photo a few tens at most.
MIN_LAPLACIAN_VAR = 25.0
ANALYSIS_WIDTH = 1024


@dataclass(frozen=True, slots=True)
class QualityReport:
    width: int
    height: int
    mean_luma: float
    laplacian_var: float
    reasons: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.reasons

    @property
    def portrait(self) -> bool:
        return self.height > self.width


def assess_quality(image: np.ndarray, *, expect_landscape: bool | None = None) -> QualityReport:
    """Measure a BGR photo; `reasons` lists what makes it unusable (empty when it is fine).

    `expect_landscape` (the station reference's orientation) flags a photo turned the other way: the
    registration could be tried on a rotated copy, but a wrong orientation usually means another framing."""
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        raise InvalidInputError("photo: expected a non-empty image array (H, W[, 3])")
    h, w = image.shape[:2]
    grey = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    scale = ANALYSIS_WIDTH / max(w, 1)
    small = cv2.resize(grey, (ANALYSIS_WIDTH, max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    mean_luma = float(small.mean())
    lap_var = float(cv2.Laplacian(small, cv2.CV_64F).var())
    reasons = []
    if min(w, h) < MIN_SHORT_SIDE_PX:
        reasons.append(
            f"photo too small ({w}x{h}); expected at least {MIN_SHORT_SIDE_PX} px on the short side"
        )
    if mean_luma < MIN_MEAN_LUMA:
        reasons.append(
            f"photo too dark (mean brightness {mean_luma:.0f}/255, night?); expected at least "
            f"{MIN_MEAN_LUMA:.0f}"
        )
    elif lap_var < MIN_LAPLACIAN_VAR:
        reasons.append(
            f"photo blurred (variance of Laplacian {lap_var:.1f}); expected at least {MIN_LAPLACIAN_VAR:.0f}"
        )
    if expect_landscape is not None and (w >= h) != expect_landscape:
        reasons.append(
            f"photo is {'portrait' if h > w else 'landscape'} ({w}x{h}); the station expects "
            f"{'landscape' if expect_landscape else 'portrait'} photos from its cradle"
        )
    return QualityReport(
        width=w, height=h, mean_luma=mean_luma, laplacian_var=lap_var, reasons=tuple(reasons)
    )
