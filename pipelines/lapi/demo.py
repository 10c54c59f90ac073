"""The lapi part of `vigie demo`: an entry and an exit camera over real photos of French cars.

The entry camera sees 8 cars of `samples_dir/plates/fr-train`, the exit camera 4 of them two hours later
(image folders whose file times are set accordingly; photos carrying an EXIF capture time are skipped since
it would override them). The worker reads the plates, opens and closes sessions, and the demo prints what
was stored. The demo car park stores clear text so that plates can be shown; the default is hashes only.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from vigie.config import CameraConfig, SiteConfig, sync_site
from vigie.pipelines.lapi.config import LapiCarParkConfig, LapiPipelineConfig, RetentionConfig
from vigie.pipelines.lapi.worker import build_pipeline
from vigie.pipelines.runner import CameraFeed, Worker
from vigie.services.lapi_parking import ensure_car_park, occupancy
from vigie.services.lapi_schemas import SubscriberIn
from vigie.services.lapi_subscribers import create_subscriber
from vigie.services.schemas import SiteCreate
from vigie.settings import Settings
from vigie.store.db import session_scope
from vigie.store.models import ParkingSession, ParkingStatus, ParkingSubscriber, PlateRead
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import ImagesSourceConfig
from vigie.vision.source_exif import exif_capture_time

log = logging.getLogger("vigie.demo.lapi")

PAGE_PATH = "/lapi/parking"
ENTRIES, EXITS = 8, 4
DEMO_START = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)


def _pick_photos(images: Path, count: int) -> list[Path]:
    utc = ZoneInfo("UTC")
    picked = []
    for path in sorted(images.glob("*.jpg")):
        if "-" in path.stem and exif_capture_time(path.read_bytes(), utc, name=path.name) is None:
            picked.append(path)  # SIV photos (AA-123-AA.jpg) whose time the demo can set
        if len(picked) == count:
            break
    return picked


def _stage(photos: list[Path], folder: Path, start: datetime, step: timedelta) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for i, photo in enumerate(photos):
        target = folder / f"{i:03d}.jpg"  # no plate in the file name: the pipeline must read it
        shutil.copyfile(photo, target)
        moment = (start + i * step).timestamp()
        os.utime(target, (moment, moment))


def demo_site_config(entry_dir: Path, exit_dir: Path) -> SiteConfig:
    return SiteConfig(
        site=SiteCreate(
            slug="demo-parking", name="Vigie demo car park", kind="lapi", longitude=-1.1528, latitude=46.1591
        ),
        cameras=[
            CameraConfig(
                slug="entree",
                name="Entrée (sample photos)",
                role="entry",
                source=ImagesSourceConfig(type="images", directory=entry_dir),
            ),
            CameraConfig(
                slug="sortie",
                name="Sortie (sample photos)",
                role="exit",
                source=ImagesSourceConfig(type="images", directory=exit_dir),
            ),
        ],
        lapi=LapiPipelineConfig(
            passage_mode="frame",
            store_clear_text=True,
            retention=RetentionConfig(max_days=7, purge_when_paid=True),
            car_parks=[
                LapiCarParkConfig(
                    slug="vieux-port",
                    name="Parking du Vieux-Port (demo)",
                    capacity=20,
                    overstay_after_h=24,
                    exit_means_paid=True,
                    entry_cameras=["entree"],
                    exit_cameras=["sortie"],
                )
            ],
        ),
    )


def run_demo(*, settings: Settings, engine: Engine) -> list[str]:
    """Run the lapi pipeline on sample photos; returns lines to print. Under a minute on 2 CPU cores."""
    if settings.samples_dir is None:
        return ["lapi: skipped (no samples directory: set VIGIE_SAMPLES_DIR to the shared datasets)"]
    images = settings.samples_dir / "plates" / "fr-train" / "Images"
    photos = _pick_photos(images, ENTRIES) if images.is_dir() else []
    if len(photos) < ENTRIES:
        return [f"lapi: skipped ({images} has fewer than {ENTRIES} usable photos of French cars)"]
    work = settings.data_dir / "demo" / "lapi"
    entry_dir, exit_dir = work / "entree", work / "sortie"
    _stage(photos, entry_dir, DEMO_START, timedelta(minutes=5))
    _stage(photos[::2][:EXITS], exit_dir, DEMO_START + timedelta(hours=2), timedelta(minutes=7))

    config = demo_site_config(entry_dir, exit_dir)
    assert config.lapi is not None
    secret = settings.secret_key.get_secret_value()
    with session_scope(engine) as session:
        contexts = sync_site(session, config)
        park = ensure_car_park(
            session,
            site_id=contexts["entree"].site_id,
            data=config.lapi.car_park_in(config.lapi.car_parks[0]),
        )
        # The demo replays the same photos each time: replace its previous results, do not add to them.
        camera_ids = [ctx.camera_id for ctx in contexts.values()]
        session.execute(delete(ParkingSession).where(ParkingSession.car_park_id == park.id))
        session.execute(delete(PlateRead).where(PlateRead.camera_id.in_(camera_ids)))
        session.execute(delete(ParkingSubscriber).where(ParkingSubscriber.car_park_id == park.id))
        subscribed = photos[0].stem
        subscription = SubscriberIn(
            plate=subscribed, valid_from=DEMO_START - timedelta(days=30), reference="D-1"
        )
        create_subscriber(session, car_park_id=park.id, secret=secret, data=subscription)
        park_id = park.id

    feeds = [
        CameraFeed(context=contexts[c.slug], source_config=c.source, health=SourceHealth(c.slug))
        for c in config.cameras
        if c.source is not None
    ]
    pipeline = build_pipeline(config=config, settings=settings)
    # One feed after the other: the exit photos must be processed after the entries they close.
    for feed in feeds:
        Worker(pipeline=pipeline, feeds=[feed], engine=engine).run(threading.Event())

    with session_scope(engine) as session:
        reads = session.scalar(
            select(func.count()).select_from(PlateRead).where(PlateRead.car_park_id == park_id)
        )
        sessions = list(
            session.scalars(
                select(ParkingSession)
                .where(ParkingSession.car_park_id == park_id)
                .order_by(ParkingSession.entry_at)
            )
        )
        texts = dict(session.execute(select(PlateRead.id, PlateRead.plate_text)).all())
        weak = session.scalar(
            select(func.count())
            .select_from(PlateRead)
            .where(PlateRead.car_park_id == park_id, PlateRead.confidence < config.lapi.min_match_confidence)
        )
        now = DEMO_START + timedelta(hours=3)
        occ = occupancy(session, car_park_id=park_id, start=DEMO_START, end=now, step_s=3600, now=now)
    lines = [
        f"lapi: {len(photos)} entry photos, {EXITS} exit photos → {reads} plate read(s) stored (no images)"
    ]
    if weak:
        lines.append(f"lapi: {weak} read(s) below the matching confidence: stored for review, no session")
    for row in sessions:
        plate = texts.get(row.entry_read_id or row.exit_read_id or -1) or "(hash only)"
        if row.status is ParkingStatus.CLOSED and row.duration_s is not None:
            what = f"closed after {row.duration_s / 60:.0f} min"
        else:
            what = f"{row.status.value}" + (f" ({row.flag_reason})" if row.flag_reason else "")
        who = "subscriber" if row.subscriber else "visitor"
        lines.append(f"lapi:   {plate:<12} {who:<10} entry {row.entry_at:%H:%M} UTC  {what}")
    series = ", ".join(f"{p.at:%H:%M} {p.occupied}" for p in occ.series)
    lines.append(f"lapi: occupancy {occ.occupied_now}/{occ.capacity} at {now:%H:%M} UTC; hourly: {series}")
    lines.append(f"lapi: car-park page {PAGE_PATH} (token with role parking)")
    return lines
