"""`vigie shoreline-worker` and `vigie shoreline-report` through the real `vigie` parser, on a migrated
SQLite database holding the CoastSnap Manly station (settings come from VIGIE_* variables, as in use)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select

from vigie.cli import build_parser
from vigie.errors import NotFoundError
from vigie.pipelines.shoreline.demo import SNAP, SOLVED, coastsnap_water_level
from vigie.pipelines.shoreline.station import load_manly_station
from vigie.pipelines.shoreline.water_level import WaterLevelSample
from vigie.services import shoreline_photos, shoreline_stations
from vigie.services.schemas import SiteCreate
from vigie.services.sites import create_site
from vigie.settings import get_settings
from vigie.store.db import make_engine, session_scope, upgrade
from vigie.store.models import PhotoStatus, Shoreline, ShorelinePhoto


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, Path]:
    """(database URL, data dir) of a migrated SQLite database the CLI's settings point at."""
    data_dir = tmp_path / "data"
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("VIGIE_ENV", "test")
    monkeypatch.setenv("VIGIE_DATABASE_URL", url)
    monkeypatch.setenv("VIGIE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield url, data_dir
    get_settings.cache_clear()


@pytest.fixture
def manly_station(cli_env: tuple[str, Path], manly_dir: Path) -> tuple[str, Path]:
    url, data_dir = cli_env
    engine = make_engine(url)
    with session_scope(engine) as session:
        create_site(
            session,
            data=SiteCreate(slug="manly-beach", name="Manly", kind="shoreline", timezone="Australia/Sydney"),
        )
        shoreline_stations.station_from_geometry(
            session,
            geometry=load_manly_station(manly_dir),
            site_slug="manly-beach",
            slug="manly",
            name="Manly CoastSnap",
            media_dir=data_dir,
            timezone="Australia/Sydney",
        )
    engine.dispose()
    return cli_env


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_report_of_an_unknown_station_is_not_found(cli_env, tmp_path):
    with pytest.raises(NotFoundError, match="nowhere"):
        run(["shoreline-report", "nowhere", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()


def test_worker_once_with_nothing_pending_and_report_without_shorelines(manly_station, tmp_path, capsys):
    assert run(["shoreline-worker", "--once"]) == 0
    assert capsys.readouterr().out.strip() == "processed 0 photo(s)"
    out = tmp_path / "report"
    assert run(["shoreline-report", "manly", "--out", str(out)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(out / "manly-report.html"), str(out / "manly-report.pdf")]
    html = (out / "manly-report.html").read_text(encoding="utf-8")
    assert "Manly CoastSnap" in html and "Shorelines: 0" in html and "not available yet" in html
    assert (out / "manly-report.pdf").read_bytes().startswith(b"%PDF")


@pytest.mark.slow
def test_worker_processes_the_real_snap_then_the_report_shows_it(manly_station, manly_dir, tmp_path, capsys):
    url, data_dir = manly_station
    data = (manly_dir / SNAP).read_bytes()
    level = coastsnap_water_level(manly_dir / SOLVED)
    engine = make_engine(url)
    with session_scope(engine) as session:
        taken, _ = shoreline_photos.capture_time(data, filename=SNAP, client_time=None, timezone="UTC")
        shoreline_photos.import_water_levels(
            session,
            slug="manly",
            source="test",
            samples=[WaterLevelSample(taken + timedelta(minutes=m), level) for m in (-10, 10)],
        )
        shoreline_photos.ingest_photo(session, slug="manly", data=data, media_dir=data_dir, filename=SNAP)
        # The same view re-encoded without EXIF and without a CoastSnap name: no capture time, so no water
        # level: set aside with that reason, not mapped.
        undated = cv2.imencode(".jpg", cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))[1]
        undated_id = shoreline_photos.ingest_photo(
            session, slug="manly", data=undated.tobytes(), media_dir=data_dir, filename="undated.jpg"
        ).id

    assert run(["shoreline-worker", "--once"]) == 0
    assert capsys.readouterr().out.strip() == "processed 2 photo(s)"
    with session_scope(engine) as session:
        shoreline = session.scalars(select(Shoreline)).one()
        snap = session.get(ShorelinePhoto, shoreline.photo_id)
        assert snap.status == PhotoStatus.PROCESSED and snap.water_level_m == pytest.approx(level)
        assert len(shoreline.geometry.coords) >= 50
        undated = session.get(ShorelinePhoto, undated_id)
        assert undated.status == PhotoStatus.FLAGGED and undated.details["reason_code"] == "no_water_level"
        assert undated.reject_reason.startswith("capture time unknown, so no water level")
    engine.dispose()

    out = tmp_path / "report"
    assert run(["shoreline-report", "manly", "--out", str(out)]) == 0
    html = (out / "manly-report.html").read_text(encoding="utf-8")
    assert "Shorelines: 1 (1 dated), from 2022-01-02 to 2022-01-02" in html
    assert html.count("data:image/png;base64,") == 2
    assert f"photo {undated_id} (date unknown): capture time unknown" in html
    assert (out / "manly-report.pdf").stat().st_size > 20_000
