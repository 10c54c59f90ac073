"""Counting stage and pipeline on synthetic input: class votes, heavy-goods rule, DB writes, bad input."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from vigie.errors import ConfigError, InvalidInputError, VigieError
from vigie.pipelines.base import CameraContext
from vigie.pipelines.traffic.classes import model_class_ids
from vigie.pipelines.traffic.config import LineConfig, TrafficCameraConfig, TrafficPipelineConfig
from vigie.pipelines.traffic.counter import CameraCounter
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

COCO = {0: "person", 1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck", 9: "traffic light"}
CLASS_MAP = model_class_ids(COCO)
CAMERA = TrafficCameraConfig(lines=[LineConfig(name="quai", points=((0, 100), (200, 100)), lanes=2)])


def tracked(boxes: list[tuple[int, int, list[float], float]]) -> Detections:
    """(tracker id, class id, xyxy, confidence) rows → tracked Detections."""
    if not boxes:
        d = Detections.empty(COCO)
        d.tracker_id = np.zeros(0, dtype=np.int64)
        return d
    return Detections(
        xyxy=np.array([b[2] for b in boxes]), class_id=np.array([b[1] for b in boxes]),
        confidence=np.array([b[3] for b in boxes]), tracker_id=np.array([b[0] for b in boxes]), names=COCO,
    )  # fmt: skip


def drive(
    counter: CameraCounter, tracks: dict[int, list[int]], size: tuple[float, float], n: int = 30
) -> list:
    """Each track moves up across y=100; `tracks[tid]` gives its class id per frame (cycled)."""
    out = []
    w, h = size
    for i in range(n):
        rows = []
        for k, (tid, classes) in enumerate(tracks.items()):
            y2 = 160 - 4 * i
            x = 20 + 60 * k
            rows.append((tid, classes[i % len(classes)], [x, y2 - h, x + w, y2], 0.6))
        out += counter.update(tracked(rows), i / 10)
    return out + counter.flush()


def counter(**kw: object) -> CameraCounter:
    return CameraCounter(CAMERA, class_map=CLASS_MAP, classes=["car", "heavy", "bus", "pedestrian"], **kw)


def test_class_is_voted_over_the_track_not_taken_from_one_frame() -> None:
    # Seen as a car 4 frames out of 5, as a truck (flicker) 1 out of 5: one crossing, a car.
    crossings = drive(counter(), {1: [2, 2, 7, 2, 2]}, (30, 30))
    assert [(c.class_name, c.direction) for c in crossings] == [("car", "out")]


def test_heavy_goods_rule_uses_box_size_at_the_line() -> None:
    # Lane width = 200 px / 2 lanes = 100 px; heavy_min_lanes 1.6 → heavy from 160 px.
    crossings = drive(counter(), {1: [7], 2: [7]}, (40, 40)) + drive(counter(), {3: [7]}, (60, 170))
    assert sorted((c.tracker_id, c.class_name) for c in crossings) == [(1, "car"), (2, "car"), (3, "heavy")]


def test_classes_not_counted_and_non_road_users_are_ignored() -> None:
    assert drive(counter(), {1: [1], 2: [9]}, (20, 20)) == []  # bicycle not configured; traffic light


def test_crossing_waits_for_the_vote_then_is_settled() -> None:
    c = counter(vote_delay_s=1.0)
    settled = []
    for i in range(40):
        settled += [
            (i, x) for x in c.update(tracked([(1, 2, [50, 150 - 4 * i, 80, 160 - 4 * i], 0.6)]), i / 10)
        ]
    assert len(settled) == 1
    crossing_time = settled[0][1].time_s
    assert settled[0][0] / 10 >= crossing_time + 1.0 - 1e-9  # settled vote_delay_s after the crossing


def test_unknown_class_and_empty_camera_are_config_errors() -> None:
    with pytest.raises(ValidationError, match=r"unknown class.*lorry"):
        TrafficPipelineConfig(classes=["car", "lorry"], cameras={"quai": CAMERA})
    with pytest.raises(ValidationError, match="at least one line or zone"):
        TrafficCameraConfig()
    with pytest.raises(ConfigError, match="none is a road user"):
        model_class_ids({0: "smoke", 1: "fire"})


def test_line_outside_the_frame_is_refused() -> None:
    cam = TrafficCameraConfig(lines=[LineConfig(name="far", points=((0, 100), (900, 100)))])
    with pytest.raises(InvalidInputError, match="outside the 320×240 frame"):
        CameraCounter(cam, class_map=CLASS_MAP, classes=["car"], frame_size=(320, 240))


def test_state_stays_bounded_over_a_long_stream() -> None:
    c = counter(track_ttl_s=1.0)
    sizes = []
    for i in range(20_000):
        rows = [(tid, 2, [50, 160 - 4 * (i - 10 * tid), 80, 170 - 4 * (i - 10 * tid)], 0.6)
                for tid in range(i // 10 - 3, i // 10 + 1) if tid >= 0]  # fmt: skip
        c.update(tracked(rows), i / 10)
        sizes.append(c.state_size)
    assert max(sizes[-5000:]) <= max(sizes[:5000]) + 5


# --- the pipeline with a synthetic detector and the real tracker, writing to the database -------------


class ScriptedDetector(Detector):
    """Boxes from a script keyed by frame sequence; no model."""

    def __init__(self, script: dict[int, list[tuple[int, list[float]]]]) -> None:
        self.name, self.version, self.device, self.half = "scripted", "1", "cpu", False
        self.names, self.input_size, self.batch = COCO, 320, 1
        self.script = script
        self._seq = 0

    def detect(self, frame: Frame | np.ndarray) -> Detections:  # type: ignore[override]
        self._seq = frame.sequence if isinstance(frame, Frame) else self._seq + 1
        return self._predict([frame.image if isinstance(frame, Frame) else frame])[0]

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        rows = self.script.get(self._seq, [])
        if not rows:
            return [Detections.empty(COCO)]
        return [Detections(xyxy=np.array([r[1] for r in rows]), class_id=np.array([r[0] for r in rows]),
                           confidence=np.full(len(rows), 0.8), names=COCO)]  # fmt: skip


def _script(n: int, starts: list[int]) -> dict[int, list[tuple[int, list[float]]]]:
    """A car every `starts` frame, moving up 5 px per frame across y = 100 in its own lane."""
    script: dict[int, list[tuple[int, list[float]]]] = {}
    for k, s in enumerate(starts):
        for i in range(40):
            y2 = 220 - 5 * i
            x = 10 + 50 * (k % 4)
            script.setdefault(s + i, []).append((2, [x, y2 - 30, x + 35, y2]))
    return script


def _frames(start: datetime, first: int, n: int) -> list[Frame]:
    image = np.zeros((240, 320, 3), np.uint8)
    return [
        Frame(image, "quai", start + timedelta(seconds=s / 10), sequence=s) for s in range(first, first + n)
    ]


def test_pipeline_counts_into_bins_and_survives_a_restart(engine) -> None:
    from vigie.pipelines.traffic.bins import stored_counts
    from vigie.pipelines.traffic.pipeline import TrafficPipeline
    from vigie.store.db import session_scope
    from vigie.store.models import Camera, Site

    with session_scope(engine) as s:
        site = Site(slug="fecamp", name="Fécamp", kind="traffic")
        s.add(site)
        s.flush()
        cam = Camera(site_id=site.id, slug="quai", name="Quai", role="traffic")
        s.add(cam)
        s.flush()
        ctx = CameraContext(camera_id=cam.id, slug="quai", site_id=site.id)
    config = TrafficPipelineConfig(classes=["car", "heavy"], cameras={"quai": CAMERA})
    script = _script(400, [0, 0, 60, 120, 200, 260])  # two cars side by side at first
    t0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

    def run(first: int, n: int) -> None:
        pipeline = TrafficPipeline(config, ScriptedDetector(script), timezone="Europe/Paris")
        writes = []
        for frame in _frames(t0, first, n):
            writes += pipeline.process(ctx, frame)
        writes += pipeline.close()
        with session_scope(engine) as s:
            for w in writes:
                w(s)

    run(0, 180)  # the worker stops after frame 179 (the cars starting at 0, 0, 60 and 120 have crossed)
    with session_scope(engine) as s:
        assert stored_counts(s, ctx.camera_id)[("quai", "out", "car")] == 4
    run(190, 150)  # restarted 1 s later: two more cars
    with session_scope(engine) as s:
        counts = stored_counts(s, ctx.camera_id)
    assert counts[("quai", "out", "car")] == 6
    assert counts[("quai", "in", "car")] == 0


def test_count_command_rejects_a_video_without_frames(tmp_path: Path) -> None:
    import av

    from vigie.pipelines.traffic.cli import add_commands

    empty = tmp_path / "empty.mp4"
    container = av.open(str(empty), "w")  # an mp4 written without a single frame
    stream = container.add_stream("mpeg4", rate=15)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    container.start_encoding()  # writes the header although no frame follows
    for packet in stream.encode(None):
        container.mux(packet)
    container.close()
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(
        ["count", str(empty), "--line", "0,100,200,100", "--out", str(tmp_path / "c.csv")]
    )
    with pytest.raises(VigieError, match=r"no video stream|no frame"):
        args.func(args)
    args = parser.parse_args(["count", str(empty), "--line", "0,100,0,100", "--out", str(tmp_path / "c.csv")])
    with pytest.raises(InvalidInputError, match="zero length"):
        args.func(args)
    args = parser.parse_args(["count", str(empty), "--line", "0,1,2", "--out", str(tmp_path / "c.csv")])
    with pytest.raises(InvalidInputError, match="four numbers"):
        args.func(args)


def test_agnostic_nms_keeps_one_box_per_vehicle_whatever_its_class() -> None:
    from vigie.pipelines.traffic.tiling import agnostic_nms

    boxes = np.array([[10, 10, 50, 40], [11, 10, 51, 41], [100, 10, 140, 40]], dtype=np.float32)
    dets = Detections(
        xyxy=boxes, confidence=np.array([0.4, 0.6, 0.3]), class_id=np.array([2, 7, 2]), names=COCO
    )
    kept = agnostic_nms(dets, 0.7)
    assert kept.class_id.tolist() == [7, 2]  # the truck box (higher score) wins over the car box on it
    assert len(agnostic_nms(dets, 0.99)) == 3  # no overlap above the threshold: nothing removed


class TileDetector(Detector):
    """Finds one car box per call at fixed tile coordinates; records the tile shapes it was given."""

    def __init__(self, box: list[float]) -> None:
        self.name, self.version, self.device, self.half = "tiles", "1", "cpu", False
        self.names, self.input_size, self.batch = COCO, 320, 4
        self.box, self.shapes = box, []

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        self.shapes += [im.shape[:2] for im in images]
        return [Detections(xyxy=np.array([self.box], dtype=np.float32), confidence=np.array([0.9]),
                           class_id=np.array([2]), names=COCO) for _ in images]  # fmt: skip


def test_tiles_cover_the_frame_and_boxes_come_back_in_frame_pixels() -> None:
    from vigie.pipelines.traffic.tiling import TiledDetector, tile_origins

    tiles = tile_origins(320, 240, (2, 2), 0.25)
    assert len(tiles) == 4 and tiles[0][:2] == (0, 0) and tiles[-1][2:] == (320, 240)
    assert tiles[1][0] < tiles[0][2] and tiles[2][1] < tiles[0][3]  # neighbours overlap
    inner = TileDetector([20, 30, 50, 60])  # whole inside each tile: four boxes, one per tile, kept apart
    found = TiledDetector(inner, grid=(2, 2)).detect(np.zeros((240, 320, 3), np.uint8))
    assert sorted(map(tuple, found.xyxy[:, :2].tolist())) == sorted(
        (x0 + 20, y0 + 30) for x0, y0, _, _ in tiles
    )
    assert len(set(inner.shapes)) == 1  # one batch of equal tiles
    cut = TileDetector(
        [0, 30, 30, 60]
    )  # touches the left edge: cut by the inner edge in the right-hand tiles
    found = TiledDetector(cut, grid=(2, 2)).detect(np.zeros((240, 320, 3), np.uint8))
    assert sorted(found.xyxy[:, 0].tolist()) == [
        0.0,
        0.0,
    ]  # only the left tiles' boxes (the frame's own edge)
    with pytest.raises(ConfigError, match="tiles"):
        tile_origins(320, 240, (0, 2), 0.25)
