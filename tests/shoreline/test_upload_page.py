"""The citizens' upload page in headless Chromium: a real beach photo is accepted, a non-image is refused
with its reason, both in French; the page then follows the photo's processing and says what came of it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from vigie.api.app import create_app
from vigie.pipelines.shoreline.demo import SNAP
from vigie.pipelines.shoreline.station import load_manly_station
from vigie.services.schemas import SiteCreate
from vigie.services.shoreline_schemas import StationCreate
from vigie.services.shoreline_stations import create_station, station_from_geometry
from vigie.services.sites import create_site
from vigie.settings import Settings
from vigie.store.db import make_engine, make_sessionmaker, upgrade
from vigie.store.models import ShorelinePhoto

from .test_api_shoreline import station_body

pytestmark = pytest.mark.browser


@pytest.fixture
def served(tmp_path: Path, live_server) -> Iterator[tuple[str, str]]:
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        create_site(session, data=SiteCreate(slug="lacanau", name="Lacanau", kind="shoreline"))
        create_station(session, data=StationCreate(**station_body()))
        session.commit()
    engine.dispose()
    settings = Settings(_env_file=None, env="test", database_url=url, data_dir=tmp_path, samples_dir=None)
    with live_server(create_app(settings)) as base:
        yield base, url


def test_upload_a_real_photo_then_a_non_image(served, chromium, manly_dir, tmp_path):
    base, url = served
    text_file = tmp_path / "notes.txt"
    text_file.write_text("ceci n'est pas une photo")
    page = chromium.new_page(viewport={"width": 390, "height": 844})  # a phone
    page.goto(f"{base}/shoreline/upload/lacanau-nord")
    assert page.get_attribute("#photo", "accept") == "image/*"
    assert page.get_attribute("#photo", "capture") is not None
    page.set_input_files("#photo", str(manly_dir / SNAP))
    page.click("#send")
    page.wait_for_selector("#message.ok", timeout=30_000)
    assert "Photo reçue" in page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "upload-ok.png"))
    page.set_input_files("#photo", str(text_file))
    page.click("#send")
    page.wait_for_selector("#message.error", timeout=30_000)
    assert "n'est pas une photo" in page.inner_text("#message")
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        photos = session.query(ShorelinePhoto).all()
        assert len(photos) == 1 and photos[0].quality["filename"] == SNAP
    engine.dispose()


def test_the_page_follows_the_photo_and_says_why_it_was_set_aside(served, chromium, manly_dir, tmp_path):
    """The Manly station without any water level: the real snap is accepted, then processing flags it, and
    the page says so in French with the reason."""
    base, url = served
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        create_site(session, data=SiteCreate(slug="manly-beach", name="Manly", kind="shoreline"))
        station_from_geometry(
            session,
            geometry=load_manly_station(manly_dir),
            site_slug="manly-beach",
            slug="manly",
            name="Manly CoastSnap",
            media_dir=tmp_path,  # the served app's data_dir
        )
        session.commit()
    engine.dispose()
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{base}/shoreline/upload/manly")
    page.set_input_files("#photo", str(manly_dir / SNAP))
    page.click("#send")
    page.wait_for_selector("#message.ok", timeout=30_000)
    page.wait_for_selector("#outcome.flagged", timeout=90_000)
    outcome = page.inner_text("#outcome")
    page.screenshot(path=str(tmp_path / "upload-flagged.png"))
    assert outcome.startswith("Photo écartée. Le niveau de la mer à l'heure de la photo est inconnu")
    assert "missing water level" in outcome  # the stored reason, for whoever reads it to the team
