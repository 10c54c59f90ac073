"""The traffic pipeline: detect → track → count crossings → binned counts in the database.

Per camera: a ByteTrack tracker told the real time step (detector stride, irregular live frames), a
`CameraCounter` (lines, zones, class votes, speeds, origin–destination) and `CameraBins` (absolute,
idempotent upserts) carrying `ZoneBins` (zone occupancy, dwell, entries) and `ODBins` (trips between lines).
Statistics only: no image leaves this module unless `debug_frames_dir` is set, and then every face, person
head and plate is blurred (saved as lossless PNG, so nothing else of the frame is altered).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import cv2

from vigie.errors import InvalidInputError
from vigie.pipelines.base import CameraContext, Write
from vigie.pipelines.traffic.bins import CameraBins
from vigie.pipelines.traffic.classes import model_class_ids
from vigie.pipelines.traffic.config import TRACKER_DEFAULTS, TrafficPipelineConfig
from vigie.pipelines.traffic.counter import CameraCounter, CountedCrossing
from vigie.pipelines.traffic.flow_bins import ODBins, ZoneBins
from vigie.pipelines.traffic.tiling import TiledDetector, agnostic_nms
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

log = logging.getLogger(__name__)


@dataclass
class _CameraState:
    counter: CameraCounter
    bins: CameraBins
    tracker: object  # vigie.vision.tracker.Tracker (imported lazily: it imports ultralytics)
    t0: datetime
    zones: ZoneBins | None = None
    od: ODBins | None = None
    frames_seen: int = 0
    last_processed: datetime | None = None
    last_debug: datetime | None = None


class TrafficPipeline:
    name = "traffic"

    def __init__(
        self,
        config: TrafficPipelineConfig,
        detector: Detector,
        *,
        timezone: str,
        weights_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.detector: Detector = (
            TiledDetector(detector, grid=config.tiles) if config.tiles is not None else detector  # type: ignore[assignment]
        )
        self.timezone = timezone
        self.weights_dir = weights_dir
        self.class_map = model_class_ids(detector.names)
        self._cameras: dict[int, _CameraState] = {}
        self._anonymiser = None
        self.crossings: list[tuple[str, CountedCrossing]] = []  # (camera slug, crossing), last run only
        self.keep_crossings = False

    def _state(self, camera: CameraContext, frame: Frame) -> _CameraState:
        state = self._cameras.get(camera.camera_id)
        if state is not None:
            return state
        from vigie.vision.tracker import ByteTrackConfig, Tracker

        cam_config = self.config.cameras[camera.slug]
        counter = CameraCounter(
            cam_config, class_map=self.class_map, classes=self.config.classes,
            heavy_min_lanes=self.config.heavy_min_lanes, vote_delay_s=self.config.vote_delay_s,
            track_ttl_s=self.config.track_ttl_s, frame_size=(frame.width, frame.height),
        )  # fmt: skip
        keys = [
            (line.name, direction, cls)
            for line in cam_config.lines
            for direction in line.directions
            for cls in self.config.classes
        ] + [(zone.name, "enter", cls) for zone in cam_config.zones for cls in self.config.classes]
        zones = (
            ZoneBins(zones=[z.name for z in cam_config.zones], classes=self.config.classes)
            if cam_config.zones
            else None
        )
        od = (
            ODBins(lines=[x.name for x in cam_config.lines], classes=self.config.classes)
            if len(cam_config.lines) >= 2
            else None
        )
        bins = CameraBins(
            site_id=camera.site_id, camera_id=camera.camera_id, timezone=self.timezone,
            bin_minutes=self.config.bin_minutes, keys=keys, model_name=self.detector.name,
            model_version=self.detector.version, max_gap_s=self.config.max_gap_s,
            write_every_s=self.config.write_every_s,
            retain_periods=2 + int((self.config.vote_delay_s + self.config.track_ttl_s) // 60),
            extras=[e for e in (zones, od) if e is not None],
        )  # fmt: skip
        tracker = Tracker(ByteTrackConfig(**(self.config.tracker or TRACKER_DEFAULTS)))
        state = _CameraState(
            counter=counter, bins=bins, tracker=tracker, t0=frame.captured_at, zones=zones, od=od
        )
        self._cameras[camera.camera_id] = state
        return state

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        if camera.slug not in self.config.cameras:
            return []  # a camera of the site without lines: not ours to count
        state = self._state(camera, frame)
        writes = list(state.bins.observe(frame.captured_at))
        state.frames_seen += 1
        if (state.frames_seen - 1) % self.config.detect_every:
            return writes
        raw = self.detector.detect(frame)
        detections = raw.only_classes(self.class_map)
        if self.config.agnostic_nms_iou is not None:
            detections = agnostic_nms(detections, self.config.agnostic_nms_iou)
        dt = None
        if state.last_processed is not None:
            dt = (frame.captured_at - state.last_processed).total_seconds()
            if dt <= 0:
                return writes  # a repeated timestamp: the tracker needs time to move forward
        state.last_processed = frame.captured_at
        tracked = state.tracker.update(detections, dt_s=dt)  # type: ignore[attr-defined]
        time_s = (frame.captured_at - state.t0).total_seconds()
        settled = state.counter.update(tracked, time_s)
        writes += self._count(camera, state, settled)
        writes += self._zone_events(state)
        if state.zones is not None:
            state.zones.observe(state.bins, frame.captured_at, state.counter.zone_occupancy)
        writes += self._trips(state)
        if self.config.debug_frames_dir is not None:
            # Every raw detection, not only confirmed tracks: a person seen once is blurred too.
            self._debug_frame(camera, state, frame, raw)
        return writes

    def _zone_events(self, state: _CameraState) -> list[Write]:
        writes: list[Write] = []
        for event in state.counter.zone_events:
            if event.class_name is None:
                continue
            t = state.t0 + timedelta(seconds=event.time_s)
            if event.kind == "enter":
                writes += state.bins.add(t, event.zone, "enter", event.class_name)
                if state.zones is not None:
                    writes += state.zones.enter(state.bins, t, event.zone, event.class_name)
            elif event.dwell_s is not None and state.zones is not None:
                writes += state.zones.exit(state.bins, t, event.zone, event.class_name, event.dwell_s)
        state.counter.zone_events.clear()
        return writes

    def _trips(self, state: _CameraState) -> list[Write]:
        writes: list[Write] = []
        if state.od is not None:
            for trip in state.counter.od_trips:
                t = state.t0 + timedelta(seconds=trip.time_s)
                writes += state.od.add(state.bins, t, trip.origin, trip.destination, trip.class_name)
        state.counter.od_trips.clear()
        return writes

    def _count(
        self, camera: CameraContext, state: _CameraState, settled: list[CountedCrossing]
    ) -> list[Write]:
        writes: list[Write] = []
        for c in settled:
            if self.keep_crossings:
                self.crossings.append((camera.slug, c))
            t = state.t0 + timedelta(seconds=c.time_s)
            writes += state.bins.add(t, c.line, c.direction, c.class_name, c.speed_kmh)
        return writes

    def _debug_frame(
        self, camera: CameraContext, state: _CameraState, frame: Frame, detections: object
    ) -> None:
        every = timedelta(seconds=self.config.debug_every_s)
        if state.last_debug is not None and frame.captured_at - state.last_debug < every:
            return
        state.last_debug = frame.captured_at
        if self._anonymiser is None:
            from vigie.pipelines.traffic.privacy import Anonymiser

            self._anonymiser = Anonymiser(weights_dir=self.weights_dir)
        folder = Path(self.config.debug_frames_dir) / camera.slug  # type: ignore[arg-type]
        folder.mkdir(parents=True, exist_ok=True)
        image = self._anonymiser(frame.image, detections)  # type: ignore[arg-type]
        for counter, _, _ in state.counter.lines:
            g = counter.geometry
            cv2.line(image, (int(g.x1), int(g.y1)), (int(g.x2), int(g.y2)), (0, 255, 255), 2)
        path = folder / f"{frame.captured_at.strftime('%Y%m%dT%H%M%S.%fZ')}.png"
        if not cv2.imwrite(str(path), image):
            raise InvalidInputError(f"debug frame: cannot write {path}")

    def close(self) -> Sequence[Write]:
        writes: list[Write] = []
        for camera_id, state in self._cameras.items():
            for c in state.counter.flush():
                if self.keep_crossings:
                    self.crossings.append((str(camera_id), c))
                t = state.t0 + timedelta(seconds=c.time_s)
                writes += state.bins.add(t, c.line, c.direction, c.class_name, c.speed_kmh)
            writes += self._zone_events(state)
            writes += self._trips(state)
            writes += state.bins.close()
        self._cameras.clear()
        return writes
