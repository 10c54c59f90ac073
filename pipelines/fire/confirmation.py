"""Confirmation: a detection becomes an event only when it persists over several frames of one camera.

Boxes of successive frames are associated into tracks (same class, IoU or centre distance); a track is
confirmed once it has `hits` boxes (of at least `min_confidence`) within `window_s`. Both numbers come from
the day's fire-danger level. A PTZ camera keeps separate tracks per preset (`pose`): the same pixels at
another preset are another place. Tracks forget hits older than the window and expire when silent for a whole
window, so the state of a 24/7 camera stays bounded.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from vigie.pipelines.fire.config import ConfirmationConfig, DangerRule
from vigie.vision.detections import box_iou


@dataclass(slots=True)
class Hit:
    """One box of a track: when, where, how sure, and the database row it was stored as (once written)."""

    at: datetime
    xyxy: tuple[float, float, float, float]
    confidence: float
    row_ids: list[int] = field(default_factory=list)  # filled by the writer thread after flush


@dataclass(slots=True)
class Track:
    track_id: int
    camera: str
    class_name: str
    pose: str | None = None
    hits: deque[Hit] = field(default_factory=deque)
    first_seen_at: datetime | None = None
    confirmed: bool = False
    event_id: str | None = None  # public id of the alert once the track belongs to one

    @property
    def last(self) -> Hit:
        return self.hits[-1]

    @property
    def last_seen_at(self) -> datetime:
        return self.hits[-1].at

    @property
    def best(self) -> Hit:
        return max(self.hits, key=lambda h: h.confidence)


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    """A track that received a hit in this frame; `newly_confirmed` on the frame it reaches its rule."""

    track: Track
    hit: Hit
    newly_confirmed: bool


class Confirmer:
    """Per-camera tracks of smoke/fire boxes and their confirmation."""

    def __init__(self, config: ConfirmationConfig) -> None:
        self.config = config
        self._tracks: dict[tuple[str, str | None], list[Track]] = {}  # by (camera, PTZ pose)
        self._ids = itertools.count(1)

    def rule(self, danger_level: int) -> DangerRule:
        return self.config.danger_rules[min(5, max(1, int(danger_level)))]

    def tracks(self, camera: str, pose: str | None = None) -> list[Track]:
        return list(self._tracks.get((camera, pose), []))

    def update(
        self,
        camera: str,
        at: datetime,
        boxes: np.ndarray,
        confidences: np.ndarray,
        class_names: list[str],
        *,
        image_width: int,
        danger_level: int,
        pose: str | None = None,
    ) -> list[TrackUpdate]:
        """Associate this frame's boxes with the tracks of the camera (at this PTZ pose); return the tracks
        that got a hit."""
        rule = self.rule(danger_level)
        window = timedelta(seconds=self.config.window_s)
        tracks = [t for t in self._tracks.get((camera, pose), []) if at - t.last_seen_at <= window]
        for t in tracks:
            while t.hits and at - t.hits[0].at > window:
                t.hits.popleft()
        updates: list[TrackUpdate] = []
        used: set[int] = set()
        # Strongest boxes pick their track first.
        for i in np.argsort(-np.asarray(confidences), kind="stable"):
            conf = float(confidences[i])
            if conf < rule.min_confidence:
                continue
            xyxy = tuple(float(v) for v in boxes[i])
            track = self._match(tracks, used, xyxy, class_names[i], image_width)
            if track is None:
                track = Track(
                    track_id=next(self._ids),
                    camera=camera,
                    class_name=class_names[i],
                    pose=pose,
                    first_seen_at=at,
                )
                tracks.append(track)
            used.add(track.track_id)
            hit = Hit(at=at, xyxy=xyxy, confidence=conf)  # type: ignore[arg-type]
            track.hits.append(hit)
            newly = not track.confirmed and len(track.hits) >= rule.hits
            track.confirmed = track.confirmed or newly
            updates.append(TrackUpdate(track=track, hit=hit, newly_confirmed=newly))
        if len(tracks) > self.config.max_tracks_per_camera:
            # Keep confirmed tracks first, then the most recently seen.
            tracks.sort(key=lambda t: (t.confirmed, t.last_seen_at), reverse=True)
            tracks = tracks[: self.config.max_tracks_per_camera]
        self._tracks[(camera, pose)] = tracks
        return updates

    def _match(
        self, tracks: list[Track], used: set[int], xyxy: tuple[float, ...], class_name: str, image_width: int
    ) -> Track | None:
        best: tuple[float, Track] | None = None
        centre = np.array([(xyxy[0] + xyxy[2]) / 2, (xyxy[1] + xyxy[3]) / 2])
        for track in tracks:
            if track.track_id in used or track.class_name != class_name:
                continue
            last = track.last.xyxy
            iou = float(box_iou(np.array(xyxy), np.array(last))[0, 0])
            dist = float(np.hypot(*(centre - np.array([(last[0] + last[2]) / 2, (last[1] + last[3]) / 2]))))
            close = dist <= self.config.max_centre_distance * image_width
            if (iou >= self.config.iou and iou > 0) or close:
                score = iou + 1.0 - dist / max(image_width, 1)
                if best is None or score > best[0]:
                    best = (score, track)
        return None if best is None else best[1]
