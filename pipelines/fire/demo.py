"""`vigie demo`, fire part: a real smoke plume composited into two lookout cameras, triangulated.

The plume video is blended onto the real lookout background at the pixel column where each camera
sees a fire at a known position, one frame every 10 s. The pipeline (real model) confirms the plume on
both cameras and fuses them into one located alert, which the console shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pyproj import Geod
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine

from vigie.config import CameraConfig, SiteConfig
from vigie.pipelines.fire.composite import (
    BACKGROUND_VIDEO,
    Plume,
    SyntheticFrame,
    read_video,
    synthetic_sequence,
)
from vigie.pipelines.fire.config import FirePipelineConfig
from vigie.services.schemas import SiteCreate
from vigie.settings import Settings

SAMPLE_FOLDER = Path("smoke") / "pyronear-synthetic"
DEMO_SITE = "demo-feu"
# A fire between two lookout towers north of Le Mans (positions are illustrative).
FIRE_LONLAT = (0.215, 48.085)
TOWERS = {"tour-ouest": (0.120, 48.020), "tour-est": (0.330, 48.040)}
IMAGE_WIDTH, IMAGE_HEIGHT, HFOV_DEG = 1280, 720, 60.0
OFF_AXIS_DEG = {"tour-ouest": -9.0, "tour-est": 6.0}  # the plume is not in the image centre
PLUME_BASE_Y = 450.0
PLUME_SCALE = 0.6
INTERVAL_S = 10.0
GEOD = Geod(ellps="WGS84")


def column_for_azimuth(
    azimuth_deg: float, heading_deg: float, width: int = IMAGE_WIDTH, hfov_deg: float = HFOV_DEG
) -> float:
    """Pixel column of a level pinhole camera whose azimuth is `azimuth_deg`."""
    f = (width / 2) / math.tan(math.radians(hfov_deg) / 2)
    return width / 2 + f * math.tan(math.radians((azimuth_deg - heading_deg + 180) % 360 - 180))


@dataclass(frozen=True, slots=True)
class DemoCamera:
    slug: str
    longitude: float
    latitude: float
    heading_deg: float
    true_azimuth_deg: float  # towards FIRE_LONLAT
    plume_column: float


def demo_cameras() -> list[DemoCamera]:
    cams = []
    for slug, (lon, lat) in TOWERS.items():
        azimuth = GEOD.inv(lon, lat, *FIRE_LONLAT)[0] % 360
        heading = (azimuth - OFF_AXIS_DEG[slug]) % 360
        cams.append(
            DemoCamera(
                slug, lon, lat, round(heading, 3), azimuth, column_for_azimuth(azimuth, round(heading, 3))
            )
        )
    return cams


def demo_site_config() -> SiteConfig:
    return SiteConfig(
        site=SiteCreate(
            slug=DEMO_SITE, name="Démo feu de forêt", kind="fire", longitude=0.22, latitude=48.03
        ),
        cameras=[
            CameraConfig(
                slug=c.slug,
                name=f"Tour {c.slug.split('-')[1]}",
                role="lookout",
                longitude=c.longitude,
                latitude=c.latitude,
                elevation_m=150,
                heading_deg=c.heading_deg,
                hfov_deg=HFOV_DEG,
                image_width=IMAGE_WIDTH,
                image_height=IMAGE_HEIGHT,
                calibration_version="demo-1",
            )
            for c in demo_cameras()
        ],
        fire=FirePipelineConfig(danger_level=3),
    )


def demo_sequences(
    folder: Path, *, frames: int = 8, start: int = 2, t0: datetime | None = None
) -> dict[str, Iterator[SyntheticFrame]]:
    """Each demo camera's synthetic frames (the plume appears at frame `start`)."""
    plume = Plume.load(folder)
    backgrounds = read_video(folder / BACKGROUND_VIDEO)
    t0 = t0 or datetime.now(UTC).replace(microsecond=0)
    return {
        c.slug: synthetic_sequence(
            backgrounds,
            plume,
            frames=frames,
            start=start,
            base_x=c.plume_column,
            base_y=PLUME_BASE_Y,
            scale=PLUME_SCALE,
            interval_s=INTERVAL_S,
            t0=t0,
        )
        for c in demo_cameras()
    }


def run_demo(*, settings: Settings, engine: Engine) -> list[str]:
    """Run the fire pipeline on the composited sample; return lines to print."""
    from vigie.config import sync_site
    from vigie.pipelines.fire.worker import build_pipeline
    from vigie.pipelines.runner import worker_id_for, write_camera_health
    from vigie.store.db import session_scope
    from vigie.store.models import Alert, Detection
    from vigie.vision.frame import Frame
    from vigie.vision.health import SourceHealth

    if settings.samples_dir is None or not (settings.samples_dir / SAMPLE_FOLDER).is_dir():
        return [f"fire: skipped: sample folder {SAMPLE_FOLDER} not found (set VIGIE_SAMPLES_DIR)"]
    folder = settings.samples_dir / SAMPLE_FOLDER
    config = demo_site_config()
    with session_scope(engine) as session:
        contexts = sync_site(session, config)
        # Replaying the demo replaces its previous results.
        ids = [c.camera_id for c in contexts.values()]
        session.execute(delete(Detection).where(Detection.camera_id.in_(ids)))
        session.execute(delete(Alert).where(Alert.site_id == next(iter(contexts.values())).site_id))
    pipeline = build_pipeline(config=config, settings=settings)
    sequences = demo_sequences(folder)
    # Health as a worker reports it, so that the console shows the demo cameras' state, not "unknown".
    worker_id = worker_id_for("fire-demo")
    health = {slug: SourceHealth(camera_id=slug) for slug in sequences}
    processed = 0
    public_ids: set[str] = set()
    for items in zip(*sequences.values(), strict=True):  # round-robin over cameras, as the worker does
        for slug, item in zip(sequences, items, strict=True):
            frame = Frame(image=item.image, camera_id=slug, captured_at=item.captured_at, sequence=item.index)
            health[slug].frame_read()
            writes = pipeline.process(contexts[slug], frame)
            with session_scope(engine) as session:
                for write in writes:
                    write(session)
                write_camera_health(session, {contexts[slug].camera_id: health[slug]}, worker_id=worker_id)
            processed += 1
            public_ids.update(pipeline.last_result.alerts if pipeline.last_result else [])
    for camera_health in health.values():
        camera_health.ended()  # the composited sequences are finite, like a file source
    with session_scope(engine) as session:
        write_camera_health(
            session, {contexts[slug].camera_id: h for slug, h in health.items()}, worker_id=worker_id
        )
    lines = [f"fire: {processed} composited frames from {len(sequences)} lookout cameras ({folder})"]
    with session_scope(engine) as session:
        n_det = session.scalar(
            select(func.count()).select_from(Detection).where(Detection.camera_id.in_(ids))
        )
        lines.append(f"fire: {n_det} smoke/fire detections stored")
        for alert in session.scalars(select(Alert).where(Alert.public_id.in_(public_ids))):
            where = "bearing lines only"
            if alert.location is not None:
                miss = GEOD.inv(alert.location.x, alert.location.y, *FIRE_LONLAT)[2]
                where = (
                    f"located at {alert.location.y:.5f} N, {alert.location.x:.5f} E "
                    f"({miss:.0f} m from the composited fire)"
                )
            bearings = ", ".join(
                f"{b['camera']} {b['azimuth_deg']:.1f}°"
                if b.get("azimuth_deg") is not None
                else f"{b['camera']} bearing unknown ({b.get('reason')})"
                for b in alert.bearings
            )
            lines.append(
                f"fire: alert {alert.public_id} ({alert.kind}, {len(alert.cameras)} cameras: {bearings}), "
                f"{where}"
            )
        if not public_ids:
            lines.append("fire: no alert confirmed")
    lines.append("fire: live console at /fire/console")
    return lines
