"""Fire pipeline with a scripted detector: confirmation, danger levels, masks, bad frames, stored rows."""

from __future__ import annotations

import numpy as np
import pytest
from sqlalchemy import select

from vigie.pipelines.fire.config import FirePipelineConfig
from vigie.pipelines.fire.pipeline import FirePipeline
from vigie.store.db import session_scope
from vigie.store.models import Alert, Detection

SMOKE = ("smoke", 0.6, (600.0, 300.0, 680.0, 400.0))
CAMERA = {"slug": "tour-nord", "name": "Tour nord", "longitude": 0.20, "latitude": 47.90, "heading_deg": 90,
          "hfov_deg": 60}  # fmt: skip


@pytest.fixture
def site(fire_site):
    return fire_site([CAMERA])


@pytest.fixture
def run(apply_writes, fire_frame):
    """`run(pipeline, ctx, times)`: feeds the camera's frames at those seconds; returns each FrameResult."""

    def feed(pipeline, ctx, times, *, camera="tour-nord"):
        results = []
        for t in times:
            apply_writes(pipeline.process(ctx, fire_frame(camera, t)))
            results.append(pipeline.last_result)
        return results

    return feed


def alerts(engine):
    with session_scope(engine) as session:
        return list(session.scalars(select(Alert)))


def detections(engine):
    with session_scope(engine) as session:
        return list(session.scalars(select(Detection).order_by(Detection.id)))


@pytest.fixture
def pipeline_for(scripted_detector, tmp_path):
    """`pipeline_for(script, **config)`: a pipeline with a scripted detector, frames saved under tmp_path."""

    def build(script, **config):
        return FirePipeline(FirePipelineConfig(**config), scripted_detector(script), data_dir=tmp_path)

    return build


def test_three_hits_within_five_minutes_make_one_alert_with_its_detections(
    engine, site, tmp_path, run, scripted_detector
):
    ctx, geo = site["tour-nord"]
    pipe = FirePipeline(FirePipelineConfig(danger_level=3), scripted_detector([[SMOKE]] * 4),
                        cameras={"tour-nord": geo}, data_dir=tmp_path)  # fmt: skip
    results = run(pipe, ctx, [0, 60, 120, 180])
    assert [bool(r.alerts) for r in results] == [False, False, True, True]
    (alert,) = alerts(engine)
    assert alert.kind == "smoke" and alert.status == "new"
    assert alert.cameras == [ctx.camera_id]
    assert alert.location is None  # one camera: a bearing line only
    (bearing,) = alert.bearings
    # Box bottom-centre column 640 of 1280 is the optical axis: azimuth = heading.
    assert bearing["azimuth_deg"] == pytest.approx(90.0, abs=1e-6)
    assert bearing["left_deg"] < 90 < bearing["right_deg"]
    assert alert.frame_path == f"alerts/{alert.public_id}.jpg"
    assert (tmp_path / alert.frame_path).stat().st_size > 1000
    assert alert.frame_box == list(SMOKE[2])
    rows = detections(engine)
    assert len(rows) == 4
    assert all(r.alert_id == alert.id for r in rows)
    assert all(r.azimuth_deg == pytest.approx(90.0) for r in rows)
    assert {r.model_name for r in rows} == {"fake-fire"} and {r.calibration_version for r in rows} == {
        "cal-1"
    }
    assert len({r.tracker_id for r in rows}) == 1


def test_isolated_hits_stay_detections(engine, site, run, pipeline_for):
    ctx, _ = site["tour-nord"]
    # Two hits, then nothing, then one hit after the window: never 3 within 300 s.
    pipe = pipeline_for([[SMOKE], [SMOKE], [], [SMOKE]], danger_level=3)
    run(pipe, ctx, [0, 100, 200, 420])
    assert alerts(engine) == []
    rows = detections(engine)
    assert len(rows) == 3 and all(r.alert_id is None for r in rows)


def test_boxes_far_apart_are_different_tracks(engine, site, run, pipeline_for):
    ctx, _ = site["tour-nord"]
    far = [("smoke", 0.6, (10.0, 300.0, 60.0, 350.0))]
    pipe = pipeline_for([[SMOKE], far, [SMOKE], far], danger_level=3)
    run(pipe, ctx, [0, 30, 60, 90])
    assert alerts(engine) == []
    assert len({r.tracker_id for r in detections(engine)}) == 2


@pytest.mark.parametrize(("level", "hits_needed"), [(5, 2), (3, 3), (1, 4)])
def test_danger_level_sets_the_number_of_hits(engine, site, run, pipeline_for, level, hits_needed):
    ctx, _ = site["tour-nord"]
    pipe = pipeline_for([[SMOKE]] * 5, danger_level=level)
    results = run(pipe, ctx, [0, 30, 60, 90, 120])
    first = next(i for i, r in enumerate(results) if r.alerts)
    assert first + 1 == hits_needed
    assert alerts(engine)[0].danger_level == str(level)


def test_low_danger_level_ignores_weak_boxes(engine, site, run, pipeline_for):
    ctx, _ = site["tour-nord"]
    weak = [("smoke", 0.3, SMOKE[2])]
    pipe = pipeline_for([weak] * 6, danger_level=1)  # level 1 needs confidence >= 0.40
    run(pipe, ctx, [0, 30, 60, 90, 120, 150])
    assert alerts(engine) == []
    assert len(detections(engine)) == 6  # still stored as detections


def test_danger_level_read_from_the_provider(site, tmp_path, run, scripted_detector):
    ctx, _ = site["tour-nord"]
    asked = []

    def provider(site_id, at):
        asked.append((site_id, at))
        return 5

    pipe = FirePipeline(
        FirePipelineConfig(), scripted_detector([[SMOKE]] * 2), data_dir=tmp_path, danger_level=provider
    )
    results = run(pipe, ctx, [0, 30])
    assert results[1].alerts  # level 5: two hits
    assert asked[0] == (ctx.site_id, results[0].captured_at)


def test_the_database_level_is_that_of_the_sites_local_day(engine, site) -> None:
    from datetime import UTC, date, datetime

    from vigie.pipelines.fire.worker import DatabaseDangerLevel
    from vigie.services.fire_alerts import set_danger_level
    from vigie.store.db import session_scope

    ctx, _ = site["tour-nord"]
    with session_scope(engine) as session:
        set_danger_level(session, site_id=ctx.site_id, day=date(2026, 7, 15), level=5, set_by="salle")
        set_danger_level(session, site_id=ctx.site_id, day=date(2026, 7, 14), level=1, set_by="salle")
    provider = DatabaseDangerLevel(engine.url.render_as_string(hide_password=False))
    try:
        # 22:30 UTC on 14 July is 00:30 on 15 July in Paris (the site's time zone).
        assert provider(ctx.site_id, datetime(2026, 7, 14, 22, 30, tzinfo=UTC)) == 5
        assert provider(ctx.site_id, datetime(2026, 7, 14, 21, 30, tzinfo=UTC)) == 1
    finally:
        provider.close()


def test_detections_in_masks_are_ignored(engine, site, run, pipeline_for):
    ctx, _ = site["tour-nord"]
    chimney = ("smoke", 0.9, (100.0, 100.0, 140.0, 200.0))
    mask = {"tour-nord": [[(80, 80), (200, 80), (200, 260), (80, 260)]]}
    pipe = pipeline_for([[chimney, SMOKE]] * 3, danger_level=3, masks=mask)
    results = run(pipe, ctx, [0, 30, 60])
    assert [r.masked for r in results] == [1, 1, 1]
    rows = detections(engine)
    assert len(rows) == 3 and all(r.x1 == SMOKE[2][0] for r in rows)
    (alert,) = alerts(engine)
    assert alert.frame_box == list(SMOKE[2])


def test_mask_by_area_fraction():
    from vigie.pipelines.fire.masks import CameraMasks
    from vigie.vision.detections import Detections

    masks = CameraMasks("c", [[(0, 0), (100, 0), (100, 100), (0, 100)]], min_fraction=0.5)
    dets = Detections(
        xyxy=np.array([[40, 40, 60, 60], [80, 0, 140, 100], [50, 0, 170, 100], [200, 0, 300, 50]])
    )
    # centre inside; centre outside but 1/3 inside; centre outside, 5/12 inside; far away.
    assert masks.masked(dets).tolist() == [True, False, False, False]
    looser = CameraMasks("c", [[(0, 0), (100, 0), (100, 100), (0, 100)]], min_fraction=0.3)
    assert looser.masked(dets).tolist() == [True, True, True, False]


@pytest.mark.parametrize("bad", ["black", "frozen", "uniform"])
def test_bad_frames_are_skipped_before_detection(
    engine, site, tmp_path, bad, scripted_detector, fire_frame, apply_writes
):
    ctx, _ = site["tour-nord"]
    detector = scripted_detector([[SMOKE]] * 10)
    pipe = FirePipeline(FirePipelineConfig(danger_level=3), detector, data_dir=tmp_path)
    good = fire_frame("tour-nord", 0)
    apply_writes(pipe.process(ctx, good))
    assert detector.calls == 1
    if bad == "black":
        image = np.full((720, 1280, 3), 3, np.uint8)
    elif bad == "uniform":
        image = np.full((720, 1280, 3), 128, np.uint8)
    else:
        image = good.image.copy()
    for t in (30, 60, 90):
        writes = pipe.process(ctx, fire_frame("tour-nord", t, image=image))
        assert writes == [] and pipe.last_result.skipped == bad
    assert detector.calls == 1
    assert pipe.quality.skipped[bad] == 3
    assert alerts(engine) == [] and len(detections(engine)) == 1


def test_camera_without_heading_keeps_detections_without_bearing(
    engine, tmp_path, fire_site, run, scripted_detector
):
    site = fire_site([{"slug": "sans-cap", "name": "Sans cap", "longitude": 0.2, "latitude": 47.9}])
    ctx, geo = site["sans-cap"]
    pipe = FirePipeline(FirePipelineConfig(danger_level=3), scripted_detector([[SMOKE]] * 3),
                        cameras={"sans-cap": geo}, data_dir=tmp_path)  # fmt: skip
    results = run(pipe, ctx, [0, 30, 60], camera="sans-cap")
    assert results[0].detections[0]["bearing_missing"] == "no heading"
    rows = detections(engine)
    assert len(rows) == 3 and all(r.azimuth_deg is None for r in rows)
    assert rows[0].data["bearing_missing"] == "no heading"
    (alert,) = alerts(engine)
    assert alert.location is None and alert.cameras == [ctx.camera_id]
    # The alert says which camera saw it and why it has no direction (not only the logs).
    (bearing,) = alert.bearings
    assert bearing["camera_id"] == ctx.camera_id and bearing["camera"] == "sans-cap"
    assert bearing["azimuth_deg"] is None and bearing["reason"] == "camera has no heading"
    assert "left_deg" not in bearing and bearing["seen_at"]


def test_camera_without_field_of_view_gives_an_unknown_bearing_with_its_reason(
    engine, tmp_path, fire_site, run, scripted_detector
):
    site = fire_site([{"slug": "sans-champ", "name": "Sans champ", "longitude": 0.2, "latitude": 47.9,
                       "heading_deg": 120.0}])  # fmt: skip
    ctx, geo = site["sans-champ"]
    pipe = FirePipeline(FirePipelineConfig(danger_level=3), scripted_detector([[SMOKE]] * 3),
                        cameras={"sans-champ": geo}, data_dir=tmp_path)  # fmt: skip
    run(pipe, ctx, [0, 30, 60], camera="sans-champ")
    (alert,) = alerts(engine)
    (bearing,) = alert.bearings
    assert bearing["azimuth_deg"] is None and bearing["reason"] == "camera has no field of view"


def test_smoke_command_reports_the_unknown_bearing_of_a_camera_without_heading(scripted_detector, fire_frame):
    from vigie.pipelines.base import CameraContext
    from vigie.pipelines.fire.cli import run_smoke
    from vigie.pipelines.fire.geometry import CameraGeometry

    ctx = CameraContext(camera_id=1, slug="sans-cap", site_id=1)
    geo = CameraGeometry(camera_id=1, slug="sans-cap", site_id=1, longitude=0.2, latitude=47.9)
    pipe = FirePipeline(FirePipelineConfig(danger_level=3, save_frames=False),
                        scripted_detector([[SMOKE]] * 3), cameras={"sans-cap": geo})  # fmt: skip
    report = run_smoke(pipe, ctx, [(f"f{t}", fire_frame("sans-cap", t)) for t in (0, 30, 60)])
    (alert,) = report["alerts"]
    unknown = {"camera": "sans-cap", "azimuth_deg": None, "reason": "camera has no heading"}
    assert alert["bearings"] == [unknown]


def test_fire_class_escalates_the_alert(engine, site, run, pipeline_for):
    ctx, _ = site["tour-nord"]
    fire = ("fire", 0.7, (620.0, 380.0, 660.0, 400.0))
    pipe = pipeline_for([[SMOKE]] * 3 + [[SMOKE, fire]] * 3, danger_level=3)
    run(pipe, ctx, [0, 30, 60, 90, 120, 150])
    (alert,) = alerts(engine)  # the flame seen in the same plume is the same event
    assert alert.kind == "fire"


def test_tracks_are_bounded(t0):
    from vigie.pipelines.fire.config import ConfirmationConfig
    from vigie.pipelines.fire.confirmation import Confirmer

    confirmer = Confirmer(ConfirmationConfig(max_tracks_per_camera=5))
    boxes = np.array([[i * 100.0, 0, i * 100.0 + 10, 10] for i in range(12)])
    confirmer.update("c", t0, boxes, np.full(12, 0.9), ["smoke"] * 12, image_width=1280, danger_level=3)
    assert len(confirmer.tracks("c")) == 5


def test_new_alert_is_posted_to_the_webhooks_once(engine, site, run, pipeline_for):
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    received: list[dict] = []
    got = threading.Event()

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()
            got.set()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        ctx, _ = site["tour-nord"]
        url = f"http://127.0.0.1:{server.server_port}/hook"
        pipe = pipeline_for([[SMOKE]] * 5, danger_level=3, webhooks=[url])
        run(pipe, ctx, [0, 30, 60, 90, 120])
        assert got.wait(10)
        pipe.notifier.close()
    finally:
        server.shutdown()
    (alert,) = alerts(engine)
    assert len(received) == 1  # updates of the same alert are not announced again
    assert received[0]["event"] == "alert.created"
    assert received[0]["alert"]["public_id"] == alert.public_id
