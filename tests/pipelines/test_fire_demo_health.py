"""The fire demo reports its cameras' health as a worker does: `up` while it runs, `ended` at the end."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy
from sqlalchemy import select

from vigie.api.app import create_app
from vigie.api.pages_fire import CONSOLE_PATH
from vigie.pipelines.base import CameraContext, Write
from vigie.pipelines.fire import demo as fire_demo
from vigie.services.fire_views import fire_cameras
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_engine, session_scope, upgrade
from vigie.store.models import Camera, CameraHealth, CameraState
from vigie.vision.frame import Frame


class HealthProbe:
    """Stands in for the fire model (the demo's health does not depend on it); notes the stored health."""

    name = "fire"
    last_result = None

    def __init__(self, engine: sqlalchemy.Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, str | None]] = []

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        with session_scope(self.engine) as session:
            row = session.get(CameraHealth, camera.camera_id)
            self.seen.append((camera.slug, None if row is None else row.state.value))
        return []


@pytest.fixture
def probe(engine: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch) -> HealthProbe:
    probe = HealthProbe(engine)
    monkeypatch.setattr("vigie.pipelines.fire.worker.build_pipeline", lambda **_: probe)
    return probe


SECRET = "demo-health-secret-" + "s" * 32
MUTED = "rgb(139, 152, 168)"  # --muted: the neutral grey of a finished camera


def demo_settings(samples_dir: Path | None, **values: Any) -> Settings:
    return Settings(_env_file=None, env="test", secret_key=SECRET, samples_dir=samples_dir, **values)


def test_fire_demo_cameras_end_with_a_stored_ended_state(
    engine: sqlalchemy.Engine, shared_datasets: Path, probe: HealthProbe
) -> None:
    lines = fire_demo.run_demo(settings=demo_settings(shared_datasets), engine=engine)
    assert lines[0].startswith("fire: 16 composited frames from 2 lookout cameras")

    # While the demo runs its cameras are reported like a worker's: nothing before the first frame, then up.
    for slug in fire_demo.TOWERS:
        states = [state for s, state in probe.seen if s == slug]
        assert states == [None] + ["up"] * 7

    with session_scope(engine) as session:
        rows = {
            camera.slug: health
            for camera, health in session.execute(select(Camera, CameraHealth).join(CameraHealth))
        }
        assert set(rows) == set(fire_demo.TOWERS)
        for health in rows.values():
            assert health.state is CameraState.ENDED
            assert health.frames_read == 8 and health.last_error is None
            assert health.last_frame_at is not None and health.worker_id.endswith(":fire-demo")
        console = fire_cameras(session, now=datetime.now(UTC))
    assert {(c.slug, c.health.state, c.health.up) for c in console} == {
        (slug, CameraState.ENDED, False) for slug in fire_demo.TOWERS
    }


def test_fire_demo_replayed_keeps_one_health_row_per_camera(
    engine: sqlalchemy.Engine, shared_datasets: Path, probe: HealthProbe
) -> None:
    for _ in range(2):
        fire_demo.run_demo(settings=demo_settings(shared_datasets), engine=engine)
    with session_scope(engine) as session:
        states = session.scalars(select(CameraHealth.state)).all()
    assert sorted(states) == [CameraState.ENDED, CameraState.ENDED]


def test_fire_demo_without_samples_writes_no_health(
    engine: sqlalchemy.Engine, tmp_path: Path, probe: HealthProbe
) -> None:
    lines = fire_demo.run_demo(settings=demo_settings(tmp_path), engine=engine)
    assert lines[0].startswith("fire: skipped")
    with session_scope(engine) as session:
        assert session.scalars(select(CameraHealth)).all() == []


@pytest.mark.browser
def test_console_shows_the_finished_demo_cameras_as_ended_in_grey(
    tmp_path: Path,
    shared_datasets: Path,
    monkeypatch: pytest.MonkeyPatch,
    chromium: Any,
    live_server: Callable[..., Any],
) -> None:
    expect = pytest.importorskip("playwright.sync_api").expect
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    monkeypatch.setattr("vigie.pipelines.fire.worker.build_pipeline", lambda **_: HealthProbe(engine))
    settings = demo_settings(shared_datasets, database_url=url, data_dir=tmp_path, bootstrap_admin_token=None)
    fire_demo.run_demo(settings=settings, engine=engine)
    with session_scope(engine) as session:
        _, token = create_token(session, name="operator", roles=["operator"], secret=SECRET)
    try:
        with live_server(create_app(settings, engine=engine)) as base_url:
            page = chromium.new_page()
            page.goto(f"{base_url}{CONSOLE_PATH}")
            page.fill("#token-input", token)
            page.click("#token-form button[type=submit]")
            # The page redraws its rows on each health event: assertions that retry, not one-off reads.
            rows = page.locator("#health-rows tr.health-row")
            expect(rows).to_have_count(len(fire_demo.TOWERS), timeout=10000)
            for i in range(len(fire_demo.TOWERS)):
                expect(rows.nth(i)).to_have_attribute("data-health", "ended")
                expect(rows.nth(i).locator("td").nth(1)).to_have_text("terminé")
                expect(rows.nth(i)).to_have_css("color", MUTED)
            dots = page.locator("#fire-map .camera-mark.state-ended .camera-dot")
            expect(dots).to_have_count(len(fire_demo.TOWERS))
            expect(dots.first).to_have_css("fill", MUTED)
    finally:
        engine.dispose()
