"""The background worker claims and processes pending photos; the report's rates, HTML and PDF."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vigie.pipelines.shoreline.change import DAYS_PER_YEAR
from vigie.pipelines.shoreline.report import ReportShoreline, StationReportData, compute_changes, write_report
from vigie.pipelines.shoreline.worker import run_worker
from vigie.services import shoreline_photos
from vigie.services.schemas import SiteCreate
from vigie.services.shoreline_schemas import StationCreate
from vigie.services.shoreline_stations import create_station
from vigie.services.sites import create_site
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import PhotoStatus, ShorelinePhoto

from .test_api_shoreline import beach_photo, jpeg, station_body


@pytest.fixture
def pending_photos(engine, tmp_path):
    with make_sessionmaker(engine)() as session:
        create_site(session, data=SiteCreate(slug="lacanau", name="Lacanau", kind="shoreline"))
        create_station(session, data=StationCreate(**station_body()))
        ids = [
            shoreline_photos.ingest_photo(
                session, slug="lacanau-nord", data=jpeg(beach_photo(s)), media_dir=tmp_path
            ).id
            for s in (11, 12)
        ]
        session.commit()
    return ids


def test_claim_marks_a_photo_so_a_second_worker_skips_it(engine, pending_photos):
    factory = make_sessionmaker(engine)
    with factory() as a, factory() as b:
        first, second = shoreline_photos.claim_next_pending(a), shoreline_photos.claim_next_pending(b)
        assert {first.id, second.id} == set(pending_photos)
        assert first.status == PhotoStatus.ACCEPTED
        assert shoreline_photos.claim_next_pending(a) is None


def test_worker_processes_every_pending_photo_once(engine, pending_photos, tmp_path):
    settings = Settings(_env_file=None, env="test", data_dir=tmp_path, samples_dir=None)
    done = run_worker(settings=settings, engine=engine, stop_event=threading.Event(), once=True)
    assert done == 2
    with make_sessionmaker(engine)() as session:
        for photo_id in pending_photos:
            photo = session.get(ShorelinePhoto, photo_id)
            # This station has no reference image yet: the photo says so instead of vanishing.
            assert photo.status == PhotoStatus.FAILED and "no reference image" in photo.reject_reason
            assert photo.processed_at is not None
    assert run_worker(settings=settings, engine=engine, stop_event=threading.Event(), once=True) == 0


def report_data(shorelines: list[ReportShoreline]) -> StationReportData:
    transects = np.array([[0.0, 0.0, 0.0, 100.0], [20.0, 0.0, 20.0, 100.0]])
    return StationReportData(
        slug="plage",
        name="Plage test",
        epsg=2154,
        origin_xy=(0.0, 0.0),
        plan={"x_min": -10, "x_max": 30, "y_min": 0, "y_max": 100, "resolution_m": 1.0},
        transects=transects,
        shorelines=shorelines,
        photo_counts={"processed": 3, "failed": 1},
        flagged=[(9, None, "photo blurred")],
    )


def hand_made(k: int, years: float, d0: float, d1: float) -> ReportShoreline:
    return ReportShoreline(
        id=k,
        photo_id=k,
        taken_at=datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=years * DAYS_PER_YEAR),
        water_level_m=0.5,
        world_xy=np.array([[0.0, d0], [20.0, d1]]),
        confidence=np.array([0.9, 0.9]),
        transect_distances=[d0, d1],
        calibration_version="c",
    )


def test_report_rates_html_and_pdf(tmp_path):
    # Transect 0 retreats 3 m/yr; transect 1 advances 1 m/yr.
    data = report_data(
        [hand_made(3, 2, 44.0, 62.0), hand_made(1, 0, 50.0, 60.0), hand_made(2, 1, 47.0, 61.0)]
    )
    changes = compute_changes(data)
    assert [round(c.epr_m_per_yr, 6) for c in changes] == [-3.0, 1.0]
    assert changes[0].lrr_r2 == pytest.approx(1.0) and changes[0].nsm_uncertainty_m > 0
    files = write_report(data, tmp_path / "out")
    html = files.html.read_text()
    assert "Plage test" in html and "<td>-3.00</td>" in html and "photo blurred" in html
    assert html.count("data:image/png;base64,") == 2
    assert files.pdf.read_bytes().startswith(b"%PDF") and files.pdf.stat().st_size > 10_000


def test_report_without_shorelines_says_so(tmp_path):
    html = write_report(report_data([]), tmp_path).html.read_text()
    assert "not available yet" in html
