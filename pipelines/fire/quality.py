"""Frame quality checks: black, uniform (lost signal) and frozen frames are skipped before detection.

A frozen camera repeats its last image; counting the same plume again would confirm an alert on
one real observation, so frozen frames never reach the detector.
"""

from __future__ import annotations

import logging
from collections import Counter

import cv2
import numpy as np

from vigie.observability import FRAMES_DROPPED
from vigie.pipelines.fire.config import QualityConfig

log = logging.getLogger("vigie.fire.quality")

_THUMB = (320, 180)  # sampled, not averaged: a live camera's sensor noise keeps consecutive frames apart


class FrameQuality:
    """Remembers each camera's previous thumbnail; `check` returns why a frame is unusable, or None."""

    def __init__(self, config: QualityConfig) -> None:
        self.config = config
        self._previous: dict[str, np.ndarray] = {}
        self.skipped: Counter[str] = Counter()

    def check(self, camera: str, image: np.ndarray) -> str | None:
        reason = self._reason(camera, image)
        if reason is not None:
            self.skipped[reason] += 1
            FRAMES_DROPPED.labels(camera=camera, reason=reason).inc()
            log.info(
                "camera %s: %s frame skipped", camera, reason, extra={"camera": camera, "reason": reason}
            )
        return reason

    def _reason(self, camera: str, image: np.ndarray) -> str | None:
        if image is None or image.size == 0 or image.ndim != 3:
            return "corrupt"
        grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        thumb = cv2.resize(grey, _THUMB, interpolation=cv2.INTER_NEAREST).astype(np.float32)
        previous = self._previous.get(camera)
        self._previous[camera] = thumb
        mean, std = cv2.meanStdDev(grey)
        if float(mean[0, 0]) < self.config.black_max_mean:
            return "black"
        if float(std[0, 0]) < self.config.uniform_max_std:
            return "uniform"
        frozen = previous is not None and previous.shape == thumb.shape
        if frozen and float(np.abs(thumb - previous).mean()) <= self.config.frozen_max_diff:
            return "frozen"
        return None
