"""Multi-object tracking stage: ultralytics' ByteTrack fed with `Detections` from any backend.

`Tracker.update(detections)` returns the rows that belong to a confirmed track, with `tracker_id` set; boxes,
scores, class ids and `data` columns are the detector's own values for those rows (not the Kalman-smoothed
boxes), so downstream stages see what the detector saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigie.errors import InvalidInputError
from vigie.vision.detections import Detections
from vigie.vision.ultralytics_compat import load_ultralytics

log = logging.getLogger(__name__)


class ByteTrackConfig(BaseModel):
    """ByteTrack settings. Defaults suit small detectors whose scores are often 0.3–0.6."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    track_high_thresh: float = Field(
        0.25, ge=0, le=1, title="High score", description="Detections at or above this are matched first."
    )
    track_low_thresh: float = Field(
        0.1, ge=0, le=1, title="Low score", description="Detections above this may extend existing tracks."
    )
    new_track_thresh: float = Field(
        0.25,
        ge=0,
        le=1,
        title="New track score",
        description="Unmatched detections at or above this start a track.",
    )
    track_buffer: int = Field(
        30, ge=1, title="Track buffer (frames)", description="Frames (at frame_rate) a lost track is kept."
    )
    match_thresh: float = Field(
        0.8, gt=0, le=1, title="Match threshold", description="Largest 1−IoU cost accepted for a match."
    )
    fuse_score: bool = Field(
        True, title="Fuse score", description="Weigh IoU by detection score when matching."
    )
    frame_rate: float = Field(
        30.0,
        gt=0,
        title="Frame rate",
        description="Frames per second of the source; sets the buffer duration.",
    )

    @model_validator(mode="after")
    def _ordered(self) -> ByteTrackConfig:
        if self.track_low_thresh > self.track_high_thresh:
            raise ValueError(
                f"track_low_thresh ({self.track_low_thresh}) must not exceed "
                f"track_high_thresh ({self.track_high_thresh})"
            )
        return self

    @property
    def buffer_s(self) -> float:
        """How long a lost track is kept, in seconds."""
        return self.track_buffer / self.frame_rate


@dataclass(slots=True)
class _ByteTrackInput:
    """The results-like view ByteTrack reads: `conf`, `cls`, `xywh` (centre) columns with boolean indexing."""

    conf: np.ndarray
    cls: np.ndarray
    xywh: np.ndarray

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> _ByteTrackInput:
        return _ByteTrackInput(self.conf[index], self.cls[index], self.xywh[index])

    @classmethod
    def from_detections(cls, detections: Detections) -> _ByteTrackInput:
        xyxy = detections.xyxy.astype(np.float32)
        xywh = np.column_stack([(xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]])
        return cls(detections.confidence.astype(np.float32), detections.class_id.astype(np.float32), xywh)


class Tracker:
    """One tracker per camera stream; call `update` once per processed frame, in order."""

    def __init__(self, config: ByteTrackConfig | None = None) -> None:
        self.config = config or ByteTrackConfig()
        load_ultralytics()
        from ultralytics.trackers.byte_tracker import BYTETracker

        self._tracker = BYTETracker(SimpleNamespace(**self.config.model_dump(exclude={"frame_rate"})))
        self._set_step(1.0 / self.config.frame_rate)

    def _set_step(self, dt_s: float) -> None:
        # ByteTrack counts its buffer in updates; keep the configured duration whatever the update interval
        # (e.g. every 3rd frame processed → a third as many updates).
        self._tracker.max_frames_lost = max(1, round(self.config.buffer_s / dt_s))

    @property
    def max_updates_lost(self) -> int:
        """Updates a lost track survives without a matching detection, for the current time step."""
        return int(self._tracker.max_frames_lost)

    @property
    def state_size(self) -> int:
        """Tracks held in memory (tracked + lost + removed history): bounded on a 24/7 stream."""
        t = self._tracker
        return len(t.tracked_stracks) + len(t.lost_stracks) + len(t.removed_stracks)

    def reset(self) -> None:
        self._tracker.reset()

    def update(self, detections: Detections, dt_s: float | None = None) -> Detections:
        """Associate this frame's detections with the tracks; `dt_s` = real seconds since the previous update.

        Give `dt_s` when frames are skipped or arrive irregularly; None means 1 / frame_rate.
        """
        if dt_s is not None:
            if not np.isfinite(dt_s) or dt_s <= 0:
                raise InvalidInputError(
                    f"Tracker.update: dt_s must be a positive number of seconds, got {dt_s}"
                )
            self._set_step(dt_s)
        out = self._tracker.update(_ByteTrackInput.from_detections(detections))
        # ByteTrack drops a removed track from its lost pool one update later, by looking it up in its removed
        # history; only that last update's removals are needed, not the 1000 it keeps otherwise.
        self._tracker.removed_stracks = list(getattr(self._tracker, "removed_stracks_frame", []))
        if len(out) == 0:
            result = detections[np.zeros(len(detections), dtype=bool)]
            result.tracker_id = np.zeros(0, dtype=np.int64)
            return result
        rows = out[:, -1].astype(np.int64)  # index of the input detection each track was updated with
        result = detections[rows]
        result.tracker_id = out[:, 4].astype(np.int64)
        return result
