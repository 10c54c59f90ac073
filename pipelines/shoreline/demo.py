"""`vigie demo`, shoreline part: the real CoastSnap Manly snap in through the upload service, out as a
georeferenced shoreline in the database and in the station's report.

The Manly station (GCPs, transects, plan grid, reference image) comes from the shared dataset folder via
S-geo's `load_manly_station`; the water level at the snap's time is the one CoastSnap used to rectify it
(`rectz` in its solved .mat file), stored as a one-sample water-level series. Re-running replaces the
demo station and everything it recorded.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from vigie.services.schemas import SiteCreate
from vigie.settings import Settings

SAMPLE_FOLDER = Path("coastal") / "manly-coastsnap"
SNAP = "1641108002.Sun.Jan.02_18_20_02.AEDT.2022.manly.snap.DocHarleyMD.jpg"
SOLVED = "1641108002.Sun.Jan.02_18_20_02.AEDT.2022.manly.plan.DocHarleyMD_registered.mat"
DEMO_SITE = "demo-manly"
DEMO_STATION = "manly"


def coastsnap_water_level(path: Path) -> float:
    """The water level (m, station datum) CoastSnap rectified a snap at (`metadata.rectz`)."""
    from scipy.io import loadmat

    return float(loadmat(path, squeeze_me=True, struct_as_record=False)["metadata"].rectz)


def run_demo(*, settings: Settings, engine: Engine) -> list[str]:
    if settings.samples_dir is None or not (settings.samples_dir / SAMPLE_FOLDER / SNAP).is_file():
        return [
            f"shoreline: skipped (no {SAMPLE_FOLDER / SNAP} under the samples directory "
            f"{settings.samples_dir}; set VIGIE_SAMPLES_DIR)"
        ]
    from vigie.pipelines.shoreline.report import write_report
    from vigie.pipelines.shoreline.station import load_manly_station
    from vigie.pipelines.shoreline.water_level import WaterLevelSample
    from vigie.services import shoreline_exports, shoreline_photos, shoreline_stations
    from vigie.services.sites import create_site
    from vigie.store.db import session_scope
    from vigie.store.models import Shoreline, Site

    folder = settings.samples_dir / SAMPLE_FOLDER
    media = Path(settings.data_dir)
    data = (folder / SNAP).read_bytes()
    with session_scope(engine) as session:
        old = session.scalar(select(Site).where(Site.slug == DEMO_SITE))
        if old is not None:
            session.delete(old)  # cascades to the station, its photos, shorelines and water levels
            session.flush()
        create_site(
            session,
            data=SiteCreate(
                slug=DEMO_SITE,
                name="Manly (CoastSnap, Sydney)",
                kind="shoreline",
                timezone="Australia/Sydney",
                longitude=151.2907,
                latitude=-33.7997,
            ),
        )
        shoreline_stations.station_from_geometry(
            session,
            geometry=load_manly_station(folder),
            site_slug=DEMO_SITE,
            slug=DEMO_STATION,
            name="Manly CoastSnap",
            media_dir=media,
            timezone="Australia/Sydney",
        )
        taken, _ = shoreline_photos.capture_time(
            data, filename=SNAP, client_time=None, timezone="Australia/Sydney"
        )
        assert taken is not None  # CoastSnap file names carry the time
        level = coastsnap_water_level(folder / SOLVED)
        shoreline_photos.import_water_levels(
            session,
            slug=DEMO_STATION,
            source="CoastSnap rectz",
            samples=[
                WaterLevelSample(taken - timedelta(minutes=5), level),
                WaterLevelSample(taken + timedelta(minutes=5), level),
            ],
        )
        photo = shoreline_photos.ingest_photo(
            session, slug=DEMO_STATION, data=data, media_dir=media, filename=SNAP
        )
        photo_id = photo.id
    cache = shoreline_photos.StationCache(media_dir=media)
    with session_scope(engine) as session:
        photo = shoreline_photos.claim_next_pending(session)
        assert photo is not None and photo.id == photo_id
        shoreline_photos.process_photo_row(session, photo=photo, cache=cache)
        status, reason, rms = photo.status.value, photo.reject_reason, photo.reprojection_rms_px
        points = session.scalar(
            select(func.count()).select_from(Shoreline).where(Shoreline.photo_id == photo_id)
        )
    with session_scope(engine) as session:
        report = write_report(
            shoreline_exports.report_data(session, slug=DEMO_STATION, media_dir=media),
            media / "reports" / "shoreline",
        )
    lines = [
        f"shoreline: Manly snap of {taken:%Y-%m-%d %H:%M} UTC at water level {level:.2f} m → photo "
        f"{photo_id} {status}"
        + (f" ({reason})" if reason else f", GCP RMS {rms:.1f} px")
        + (
            ""
            if reason
            else " (this snap is the station's reference photo: its GCP pixels come from the "
            "station's solved camera, so a near-zero RMS is expected, not a measurement)"
        )
    ]
    if points:
        lines.append("shoreline: stored 1 georeferenced shoreline (EPSG:28356 → WGS84)")
    lines += [
        f"shoreline: report {report.html} and {report.pdf}",
        f"shoreline: report page /api/v1/shoreline/stations/{DEMO_STATION}/report.html (role coastal), "
        f"citizen upload page /shoreline/upload/{DEMO_STATION}",
    ]
    return lines
