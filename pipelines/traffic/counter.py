"""The counting stage of one camera: tracked detections in, classified crossings out.

No model, no database: `CameraCounter.update(tracked, time_s)` is fed the tracker's output (rows with
`tracker_id`, class ids of the detector) and returns crossings whose class is settled. A crossing is
held for `vote_delay_s` (or until its track ends) so that its class is the vote of the track's life, not of
the frame at the line. Tests drive it with synthetic tracks; the pipeline and `vigie count` with a
detector and `vigie.vision.tracker.Tracker`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from vigie.pipelines.traffic.classes import ClassVote, settle_class
from vigie.pipelines.traffic.config import TrafficCameraConfig
from vigie.pipelines.traffic.lines import Crossing, LineCounter, LineGeometry
from vigie.pipelines.traffic.od import ODMatrix, ODTrip
from vigie.pipelines.traffic.speed import SpeedEstimator
from vigie.pipelines.traffic.zones import ZoneEvent, ZoneMonitor
from vigie.vision.detections import Detections


@dataclass(frozen=True, slots=True)
class CountedCrossing:
    line: str
    direction: str
    class_name: str
    tracker_id: int
    time_s: float
    speed_kmh: float | None


@dataclass(slots=True)
class _Pending:
    crossing: Crossing
    box_wh: tuple[float, float]
    lane_width_px: float
    speed_kmh: float | None


@dataclass(frozen=True, slots=True)
class ClassifiedTrip:
    """An origin–destination trip with the class settled at its last counted crossing."""

    origin: str
    destination: str
    class_name: str
    tracker_id: int
    time_s: float


@dataclass(slots=True)
class _TrackInfo:
    vote: ClassVote
    last_seen_s: float
    settled: str | None = None  # class settled at the track's latest crossing (OD trips use it)


class CameraCounter:
    def __init__(
        self,
        config: TrafficCameraConfig,
        *,
        class_map: Mapping[int, str],
        classes: Sequence[str],
        heavy_min_lanes: float = 1.6,
        vote_delay_s: float = 2.0,
        track_ttl_s: float = 5.0,
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        """`class_map`: detector class id → provisional label (see `classes.model_class_ids`);
        `frame_size` (width, height): when given, lines and zones must lie inside the frame."""
        self.config = config
        self.class_map = dict(class_map)
        self.classes = frozenset(classes)
        self.heavy_min_lanes = heavy_min_lanes
        self.vote_delay_s = vote_delay_s
        self.track_ttl_s = track_ttl_s
        self.lines: list[tuple[LineCounter, str, float]] = []  # counter, anchor, lane width
        for line in config.lines:
            geometry = LineGeometry(*line.points[0], *line.points[1])
            if frame_size is not None:
                geometry.check_inside(*frame_size, name=line.name)
            counter = LineCounter(
                line.name, geometry, band_px=line.band_px, min_frames=line.min_frames, ttl_s=track_ttl_s,
                directions=tuple(line.directions),
            )  # fmt: skip
            self.lines.append((counter, line.anchor, geometry.length / line.lanes))
        self.zones = [
            (ZoneMonitor(z.name, list(z.polygon), ttl_s=track_ttl_s), z.anchor) for z in config.zones
        ]
        self.speed: SpeedEstimator | None = None
        if config.speed is not None:
            from vigie.calibration.homography import fit_homography
            from vigie.errors import ConfigError

            fit = fit_homography(config.speed.image_points, config.speed.world_points)
            if fit.rms_error_m > config.speed.max_rms_error_m:
                raise ConfigError(
                    f"speed calibration: reprojection error {fit.rms_error_m:.2f} m exceeds "
                    f"max_rms_error_m {config.speed.max_rms_error_m} m; check the points"
                )
            self.homography = fit
            self.speed = SpeedEstimator(fit, window_s=config.speed.window_s, ttl_s=track_ttl_s)
        self.od = ODMatrix(ttl_s=track_ttl_s)
        self._tracks: dict[int, _TrackInfo] = {}
        self._pending: list[_Pending] = []
        self.zone_events: list[ZoneEvent] = []  # drained by the caller; class_name set when known
        self.od_trips: list[ClassifiedTrip] = []  # drained by the caller
        # (zone, class) → tracks inside after the latest update (classes counted only)
        self.zone_occupancy: dict[tuple[str, str], int] = {}

    @property
    def state_size(self) -> int:
        """Everything held per track, summed: bounded on a 24/7 stream."""
        return (
            len(self._tracks)
            + len(self._pending)
            + sum(c.state_size for c, _, _ in self.lines)
            + sum(z.state_size for z, _ in self.zones)
            + self.od.state_size
            + (self.speed.state_size if self.speed else 0)
        )

    def update(self, tracked: Detections, time_s: float) -> list[CountedCrossing]:
        """Feed one processed frame's tracked detections; returns the crossings settled now."""
        if tracked.tracker_id is None:
            raise ValueError("CameraCounter.update: expected tracked detections (tracker_id set)")
        keep = np.array([int(c) in self.class_map for c in tracked.class_id], dtype=bool)
        tracked = tracked[keep]
        ids = tracked.tracker_id
        assert ids is not None
        for tid, cid, conf in zip(
            ids.tolist(), tracked.class_id.tolist(), tracked.confidence.tolist(), strict=True
        ):
            info = self._tracks.get(tid)
            if info is None:
                info = self._tracks[tid] = _TrackInfo(ClassVote(), time_s)
            info.vote.add(self.class_map[cid], conf)
            info.last_seen_s = time_s
        if self.speed is not None and len(ids):
            self.speed.update(ids, tracked.anchors("bottom_center"), time_s)
        new: list[Crossing] = []
        for counter, anchor, lane_width in self.lines:
            for c in counter.update(ids, tracked.anchors(anchor), time_s):
                x1, y1, x2, y2 = tracked.xyxy[c.index].tolist()
                speed = self.speed.speed_kmh(c.tracker_id) if self.speed is not None else None
                self._pending.append(_Pending(c, (x2 - x1, y2 - y1), lane_width, speed))
                new.append(c)
        occupancy: dict[tuple[str, str], int] = {}
        for zone, anchor in self.zones:
            for event in zone.update(ids, tracked.anchors(anchor), time_s):
                self.zone_events.append(replace(event, class_name=self.track_class(event.tracker_id)))
            for tid in zone.inside_ids():
                cls = self.track_class(tid)
                if cls in self.classes:
                    occupancy[(zone.name, cls)] = occupancy.get((zone.name, cls), 0) + 1
        self.zone_occupancy = occupancy
        self.od.update(new, ids.tolist(), time_s)
        settled = self._settle(time_s, final=False)
        self._classify_trips()  # before the purge below: ended tracks' classes are still known
        for tid in [t for t, info in self._tracks.items() if time_s - info.last_seen_s > self.track_ttl_s]:
            del self._tracks[tid]
        return settled

    def flush(self) -> list[CountedCrossing]:
        """Settle every pending crossing and close every OD path (end of the video or worker stop)."""
        settled = self._settle(float("inf"), final=True)
        self.od.flush()
        self._classify_trips()
        return settled

    def track_class(self, tracker_id: int) -> str | None:
        """A live track's class by its vote so far (`truck` → `heavy`: no line here to size it against)."""
        info = self._tracks.get(tracker_id)
        if info is None:
            return None
        if info.settled is not None:
            return info.settled
        label = info.vote.winner()
        return {"truck": "heavy"}.get(label, label) if label is not None else None

    def _classify_trips(self) -> None:
        trips: list[ODTrip] = self.od.trips
        for trip in trips:
            info = self._tracks.get(trip.tracker_id)
            cls = info.settled if info is not None else None
            if cls in self.classes:
                self.od_trips.append(
                    ClassifiedTrip(trip.origin, trip.destination, cls, trip.tracker_id, trip.time_s)
                )
        trips.clear()

    def _settle(self, now_s: float, *, final: bool) -> list[CountedCrossing]:
        out: list[CountedCrossing] = []
        waiting: list[_Pending] = []
        for p in self._pending:
            c = p.crossing
            info = self._tracks.get(c.tracker_id)
            track_ended = info is None or now_s - info.last_seen_s > 0.5
            if not (final or track_ended or now_s - c.time_s >= self.vote_delay_s):
                waiting.append(p)
                continue
            label = info.vote.winner() if info is not None else None
            if label is None:
                continue
            cls = settle_class(
                label, box_wh=p.box_wh, lane_width_px=p.lane_width_px, heavy_min_lanes=self.heavy_min_lanes
            )
            if info is not None:
                info.settled = cls
            if cls in self.classes:
                out.append(CountedCrossing(c.line, c.direction, cls, c.tracker_id, c.time_s, p.speed_kmh))
        self._pending = waiting
        return out
