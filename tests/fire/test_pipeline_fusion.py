"""Multi-camera fusion: one event seen by two cameras is one located alert; parallel cones are not."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod
from sqlalchemy import select

from vigie.pipelines.fire.config import FirePipelineConfig, TilingConfig
from vigie.pipelines.fire.pipeline import FirePipeline
from vigie.pipelines.fire.tiling import detect_tiled, nms, tile_windows
from vigie.store.db import session_scope
from vigie.store.models import Alert
from vigie.vision.detections import Detections

GEOD = Geod(ellps="WGS84")
FIRE_LONLAT = (0.20, 47.98)
WIDTH, HEIGHT, HFOV = 1280, 720, 60.0


def column_for(azimuth_deg: float, heading_deg: float) -> float:
    """Pixel column whose (level pinhole) azimuth is `azimuth_deg`."""
    f = (WIDTH / 2) / math.tan(math.radians(HFOV / 2))
    return WIDTH / 2 + f * math.tan(math.radians(azimuth_deg - heading_deg))


def smoke_towards(azimuth_deg: float, heading_deg: float, half_width: float = 12.0):
    x = column_for(azimuth_deg, heading_deg)
    return [("smoke", 0.7, (x - half_width, 300.0, x + half_width, 380.0))]


def cameras(headings: dict[str, float], positions: dict[str, tuple[float, float]]):
    return [
        {"slug": slug, "name": slug, "longitude": positions[slug][0], "latitude": positions[slug][1],
         "heading_deg": headings[slug], "hfov_deg": HFOV, "image_width": WIDTH, "image_height": HEIGHT}
        for slug in headings
    ]  # fmt: skip


def alerts(engine):
    with session_scope(engine) as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


@pytest.fixture
def run_two_cameras(tmp_path, fire_site, scripted_detector, fire_frame, apply_writes):
    """`run_two_cameras(positions, azimuths, headings)`: cameras a and b each see the plume 3 times."""

    def run(positions, azimuths, headings):
        site = fire_site(cameras(headings, positions))
        script = []
        for _ in range(3):  # the worker serves cameras round-robin: a, b, a, b, ...
            script += [
                smoke_towards(azimuths["a"], headings["a"]),
                smoke_towards(azimuths["b"], headings["b"]),
            ]
        pipe = FirePipeline(
            FirePipelineConfig(danger_level=3),
            scripted_detector(script),
            cameras={slug: geo for slug, (_, geo) in site.items()},
            data_dir=tmp_path,
        )
        for i in range(3):
            for slug in ("a", "b"):
                apply_writes(
                    pipe.process(site[slug][0], fire_frame(slug, 60 * i + (5 if slug == "b" else 0)))
                )
        return site

    return run


def test_two_cameras_make_one_located_alert(engine, run_two_cameras):
    positions = {"a": (0.10, 47.90), "b": (0.30, 47.90)}
    azimuths = {s: GEOD.inv(*positions[s], *FIRE_LONLAT)[0] % 360 for s in positions}
    headings = {s: round(azimuths[s]) + 7.0 for s in positions}  # the plume is off-centre in both images
    site = run_two_cameras(positions, azimuths, headings)
    (alert,) = alerts(engine)
    assert sorted(alert.cameras) == sorted(ctx.camera_id for ctx, _ in site.values())
    assert alert.location is not None
    _, _, miss_m = GEOD.inv(alert.location.x, alert.location.y, *FIRE_LONLAT)
    assert miss_m < 150  # bottom-centre bearings of boxes centred on the true columns
    assert alert.uncertainty is not None and alert.uncertainty.contains(alert.location)
    by_camera = {b["camera"]: b for b in alert.bearings}
    for slug in ("a", "b"):
        assert by_camera[slug]["azimuth_deg"] == pytest.approx(azimuths[slug], abs=0.05)


def test_parallel_cones_give_one_alert_per_camera_without_location(engine, run_two_cameras):
    positions = {"a": (0.10, 47.90), "b": (0.30, 47.90)}
    azimuths = {"a": 0.0, "b": 0.0}  # both look due north: the rays never meet
    headings = {"a": 350.0, "b": 10.0}
    run_two_cameras(positions, azimuths, headings)
    found = alerts(engine)
    assert len(found) == 2
    assert all(a.location is None and a.uncertainty is None for a in found)
    assert all(len(a.bearings) == 1 and len(a.cameras) == 1 for a in found)


def test_cones_crossing_behind_a_camera_are_not_fused(engine, run_two_cameras):
    positions = {"a": (0.10, 47.90), "b": (0.30, 47.90)}
    azimuths = {"a": 300.0, "b": 60.0}  # pointing away from each other: lines cross behind both
    headings = {"a": 300.0, "b": 60.0}
    run_two_cameras(positions, azimuths, headings)
    found = alerts(engine)
    assert len(found) == 2 and all(a.location is None for a in found)


# --- tiling -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("cols", "rows"), [(1, 1), (2, 1), (2, 2), (3, 2)])
def test_tiles_cover_the_image_with_overlap(cols, rows):
    windows = tile_windows(1920, 1080, cols, rows, 0.15)
    assert len(windows) == cols * rows
    covered = np.zeros((1080, 1920), bool)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= 1920 and 0 <= y1 < y2 <= 1080
        covered[y1:y2, x1:x2] = True
    assert covered.all()
    if cols > 1:
        assert windows[0][2] > windows[1][0]  # neighbours overlap


def test_nms_keeps_the_strongest_box_per_class():
    dets = Detections(
        xyxy=np.array([[0, 0, 100, 100], [5, 5, 100, 100], [0, 0, 100, 100], [300, 0, 400, 100]]),
        confidence=np.array([0.5, 0.9, 0.8, 0.4]),
        class_id=np.array([0, 0, 1, 0]),
    )
    kept = nms(dets, 0.5)
    assert sorted(kept.confidence.tolist()) == pytest.approx([0.4, 0.8, 0.9])


def test_tiled_detection_returns_full_frame_pixels(scripted_detector):
    # Full frame first, then the two tiles of a 2x1 grid; the second tile sees a box at its own (10, 20).
    detector = scripted_detector([[], [], [("smoke", 0.5, (10.0, 20.0, 30.0, 40.0))]])
    dets = detect_tiled(detector, np.zeros((1080, 1920, 3), np.uint8), TilingConfig(grid="2x1", overlap=0.1))
    x_offset = tile_windows(1920, 1080, 2, 1, 0.1)[1][0]
    assert detector.calls == 3 and dets.metadata["tiles"] == 3
    assert dets.xyxy.tolist() == [[x_offset + 10, 20, x_offset + 30, 40]]
