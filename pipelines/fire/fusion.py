"""Events: confirmed tracks of one or several cameras fused into one alert, located when cones cross.

A newly confirmed track joins an open event (seen within the fusion window) when it is the same camera
looking the same way, or another camera whose cone crosses the event's cones at a triangulated point;
otherwise it starts its own event. Cones that never intersect therefore give one event per camera with
bearing lines only, never a bogus location.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from vigie.calibration.bearing import Bearing
from vigie.calibration.triangulation import Localisation, Observation, localise
from vigie.pipelines.fire.config import LocalisationConfig
from vigie.pipelines.fire.confirmation import Hit, Track
from vigie.pipelines.fire.geometry import CameraGeometry
from vigie.vision.detections import box_iou

log = logging.getLogger("vigie.fire.fusion")


@dataclass(slots=True)
class Sighting:
    """The latest view of an event from one camera."""

    camera: CameraGeometry
    seen_at: datetime
    xyxy: tuple[float, float, float, float]
    confidence: float
    bearing: Bearing | None
    reason: str | None  # why there is no bearing ("no heading", ...)


@dataclass(slots=True)
class BestFrame:
    camera_id: int
    confidence: float
    xyxy: tuple[float, float, float, float]
    jpeg: bytes
    saved: bool = False


@dataclass(slots=True)
class Event:
    public_id: str
    site_id: int
    kind: str
    first_seen_at: datetime
    last_seen_at: datetime
    danger_level: int
    sightings: dict[int, Sighting] = field(default_factory=dict)
    tracks: list[Track] = field(default_factory=list)
    confidence: float = 0.0
    best: BestFrame | None = None
    localisation: Localisation | None = None
    written_at: datetime | None = None  # capture time of the last alert write
    pending: bool = True  # something worth writing changed

    def observations(self) -> list[Observation]:
        return [
            Observation(
                camera=s.camera.slug,
                longitude=s.camera.longitude,
                latitude=s.camera.latitude,
                bearing=s.bearing,
            )
            for s in self.sightings.values()
            if s.bearing is not None and s.camera.located
        ]


class EventRegistry:
    """Open events of a worker, expired once silent for the fusion window (memory stays bounded)."""

    def __init__(
        self, config: LocalisationConfig, *, same_camera_distance: float = 0.15, write_every_s: float = 30.0
    ) -> None:
        self.config = config
        self.same_camera_distance = same_camera_distance
        self.write_every = timedelta(seconds=write_every_s)
        self.events: list[Event] = []

    def _expire(self, now: datetime) -> None:
        keep = timedelta(seconds=self.config.fusion_window_s)
        self.events = [e for e in self.events if now - e.last_seen_at <= keep]

    def _localise(self, observations: list[Observation]) -> Localisation | None:
        if not observations:
            return None
        return localise(
            observations, max_range_m=self.config.max_range_m, min_angle_deg=self.config.min_angle_deg
        )

    def _same_camera(self, event: Event, sighting: Sighting, image_width: int) -> bool:
        previous = event.sightings.get(sighting.camera.camera_id)
        if previous is None:
            return False
        if previous.bearing is not None and sighting.bearing is not None:
            b, p = sighting.bearing, previous.bearing
            return p.contains(b.azimuth_deg) or b.contains(p.azimuth_deg)
        iou = float(box_iou(np.array(previous.xyxy), np.array(sighting.xyxy))[0, 0])
        a = np.array(previous.xyxy)
        c = np.array(sighting.xyxy)
        dist = float(np.hypot((a[0] + a[2] - c[0] - c[2]) / 2, (a[1] + a[3] - c[1] - c[3]) / 2))
        return iou > 0 or dist <= self.same_camera_distance * image_width

    def _crosses(self, event: Event, sighting: Sighting) -> Localisation | None:
        if sighting.bearing is None or not sighting.camera.located:
            return None
        others = [o for o in event.observations() if o.camera != sighting.camera.slug]
        if not others:
            return None
        new = Observation(
            camera=sighting.camera.slug,
            longitude=sighting.camera.longitude,
            latitude=sighting.camera.latitude,
            bearing=sighting.bearing,
        )
        result = self._localise([*others, new])
        return result if result is not None and result.located else None

    def observe(
        self,
        track: Track,
        hit: Hit,
        sighting: Sighting,
        *,
        kind: str,
        danger_level: int,
        image_width: int,
        encode_frame: Callable[[], bytes] | None,
    ) -> Event | None:
        """Record a hit of a confirmed track; return its event when the alert should be (re)written."""
        now = hit.at
        self._expire(now)
        event = next((e for e in self.events if e.public_id == track.event_id), None)
        if event is None:
            event = self._find(sighting, image_width)
            if event is None:
                event = Event(
                    public_id=str(uuid.uuid4()),
                    site_id=sighting.camera.site_id,
                    kind=kind,
                    first_seen_at=track.first_seen_at or now,
                    last_seen_at=now,
                    danger_level=danger_level,
                )
                self.events.append(event)
                log.info("camera %s: new %s event %s", sighting.camera.slug, kind, event.public_id)
            else:
                log.info("camera %s joins event %s", sighting.camera.slug, event.public_id)
            track.event_id = event.public_id
            event.tracks.append(track)
            event.first_seen_at = min(event.first_seen_at, track.first_seen_at or now)
            event.pending = True
        cameras_before = set(event.sightings)
        event.sightings[sighting.camera.camera_id] = sighting
        event.last_seen_at = max(event.last_seen_at, now)
        if kind == "fire" and event.kind != "fire":
            event.kind = "fire"
            event.pending = True
        if set(event.sightings) != cameras_before:
            event.pending = True
        if hit.confidence > event.confidence:
            event.confidence = hit.confidence
            if encode_frame is not None:  # only the best frame is encoded, not every hit
                event.best = BestFrame(
                    camera_id=sighting.camera.camera_id,
                    confidence=hit.confidence,
                    xyxy=hit.xyxy,
                    jpeg=encode_frame(),
                )
            event.pending = True
        if event.written_at is None or now - event.written_at >= self.write_every:
            event.pending = True
        if not event.pending:
            return None
        event.localisation = self._localise(event.observations())
        event.pending = False
        event.written_at = now
        return event

    def _find(self, sighting: Sighting, image_width: int) -> Event | None:
        open_events = [e for e in self.events if e.site_id == sighting.camera.site_id]
        for event in open_events:
            if self._same_camera(event, sighting, image_width):
                return event
        for event in open_events:
            if (
                sighting.camera.camera_id not in event.sightings
                and self._crosses(event, sighting) is not None
            ):
                return event
        return None
