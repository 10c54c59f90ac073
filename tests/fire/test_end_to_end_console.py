"""The issue's end-to-end path: composited smoke video → real model and worker → confirmed alert with the
true bearing in the database → shown live in the operator console, frame and bearing included."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import cv2
import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from vigie.api.app import create_app
from vigie.config import CameraConfig, SiteConfig
from vigie.pipelines.fire.composite import BACKGROUND_VIDEO, Plume, read_video, synthetic_sequence
from vigie.pipelines.fire.demo import column_for_azimuth
from vigie.pipelines.fire.worker import build_pipeline
from vigie.pipelines.runner import CameraFeed, Worker
from vigie.services.schemas import SiteCreate
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_engine, session_scope, upgrade
from vigie.store.models import Alert
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import FileSourceConfig

pytestmark = [pytest.mark.slow, pytest.mark.browser]

HEADING, HFOV = 212.0, 60.0
TRUE_AZIMUTH = 229.5  # the composited plume stands 17.5° right of the image centre
SECRET = "fire-end-to-end-secret-" + "s" * 24
T0 = datetime(2026, 7, 14, 13, tzinfo=UTC)


def composited_video(folder, path) -> None:
    """Eight frames, 10 s apart, of the real plume rising over the real lookout background."""
    column = column_for_azimuth(TRUE_AZIMUTH, HEADING, 1280, HFOV)
    plume = Plume.load(folder)
    frames = synthetic_sequence(
        read_video(folder / BACKGROUND_VIDEO), plume, frames=8, start=2, base_x=column, base_y=450,
        scale=0.6, t0=T0,
    )  # fmt: skip
    images = [f.image for f in frames]
    height, width = images[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 1.0, (width, height))
    for image in images:
        writer.write(image)
    writer.release()


def test_composited_smoke_becomes_an_alert_with_the_true_bearing_in_the_console(
    shared_datasets, tmp_path, live_server, chromium
) -> None:
    from vigie.config import sync_site

    video = tmp_path / "tour.mp4"
    composited_video(shared_datasets / "smoke" / "pyronear-synthetic", video)
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(
        _env_file=None, env="test", secret_key=SECRET, database_url=url, data_dir=tmp_path / "data",
        samples_dir=None,
    )  # fmt: skip
    config = SiteConfig(
        site=SiteCreate(slug="sarthe", name="Sarthe", kind="fire", longitude=0.2, latitude=47.9),
        cameras=[
            CameraConfig(
                slug="tour", name="Tour", role="lookout", longitude=0.2, latitude=47.9,
                heading_deg=HEADING, hfov_deg=HFOV,
                source=FileSourceConfig(type="file", path=video, start_time=T0),
            )
        ],
    )  # fmt: skip
    with session_scope(engine) as session:
        contexts = sync_site(session, config)
        _, token = create_token(session, name="salle-ops", roles=["operator"], secret=SECRET)

    with live_server(create_app(settings)) as base_url:
        context = chromium.new_context(viewport={"width": 1600, "height": 1000}, locale="fr-FR")
        errors: list[str] = []
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base_url}/fire/console")
        page.fill("#token-input", token)
        page.click("#token-form button[type=submit]")
        expect(page.locator("#stream-state")).to_have_attribute("data-state", "live", timeout=10_000)
        expect(page.locator("#alert-list .alert-card")).to_have_count(0)

        # The worker runs now, with the console open: the alert must arrive live, without a reload.
        pipeline = build_pipeline(config=config, settings=settings)
        pipeline.config = pipeline.config.model_copy(update={"danger_level": 3})
        feed = CameraFeed(context=contexts["tour"], source_config=config.cameras[0].source,
                          health=SourceHealth("tour"))  # fmt: skip
        Worker(pipeline=pipeline, feeds=[feed], engine=engine).run(threading.Event())

        with session_scope(engine) as session:
            (alert,) = session.scalars(select(Alert)).all()
            (bearing,) = alert.bearings
            alert_id, frame_path = alert.id, alert.frame_path
        assert bearing["azimuth_deg"] == pytest.approx(TRUE_AZIMUTH, abs=1.0)
        assert (settings.data_dir / frame_path).is_file()

        card = page.locator(f'#alert-list .alert-card[data-alert-id="{alert_id}"]')
        expect(card).to_be_visible(timeout=5_000)
        azimuth_text = f"{bearing['azimuth_deg']:.1f}".replace(".", ",")
        expect(card.locator(".f-bearings")).to_contain_text(f"{azimuth_text}°")
        # The stored frame is loaded and shown with the box.
        page.wait_for_function(
            """id => { const img = document.querySelector(
                   `#alert-list .alert-card[data-alert-id="${id}"] img.frame-img`);
                   return img && img.complete && img.naturalWidth === 1280; }""",
            arg=str(alert_id),
            timeout=10_000,
        )
        page.screenshot(path=str(tmp_path / "console-end-to-end.png"))
        context.close()
    engine.dispose()
    assert errors == [], f"uncaught errors in the console page: {errors}"
