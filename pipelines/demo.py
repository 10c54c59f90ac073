"""`vigie demo`: the embedded defaults end to end — SQLite, registry models, sample inputs, then the API.

Sample inputs come from packages a fresh machine installs anyway: OpenCV's sample plaza video (Debian
`opencv-doc`) and, when it is absent, the street photos shipped inside the ultralytics wheel.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from pathlib import Path

from sqlalchemy import delete, func, select

from vigie.config import CameraConfig, SiteConfig
from vigie.errors import ConfigError
from vigie.pipelines.detect import DetectPipelineConfig, build_detect_pipeline
from vigie.pipelines.fire.demo import run_demo as run_fire_demo
from vigie.pipelines.lapi.demo import run_demo as run_lapi_demo
from vigie.pipelines.runner import CameraFeed, Worker
from vigie.pipelines.shoreline.demo import run_demo as run_shoreline_demo
from vigie.pipelines.traffic.demo import run_demo as run_traffic_demo
from vigie.services.schemas import SiteCreate
from vigie.settings import Settings
from vigie.store.db import make_engine, session_scope, upgrade
from vigie.store.models import Detection
from vigie.vision.detector import DarknetDetectorConfig
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import FileSourceConfig, ImagesSourceConfig, SourceConfig, describe
from vigie.vision.ultralytics_compat import ultralytics_assets_dir

log = logging.getLogger("vigie.demo")

PIPELINE_DEMOS = (run_fire_demo, run_traffic_demo, run_lapi_demo, run_shoreline_demo)

OPENCV_SAMPLE_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
DEMO_TOKEN = "vigie-demo-admin-token"  # development only: the demo refuses to run in production
DEMO_MODELS = ("coco-yolov4-tiny", "fire-smoke-yolov8", "plate-yolov8n")  # fetched if missing


def sample_source() -> SourceConfig:
    if OPENCV_SAMPLE_VIDEO.is_file():
        return FileSourceConfig(type="file", path=OPENCV_SAMPLE_VIDEO, target_fps=2)
    return ImagesSourceConfig(type="images", directory=ultralytics_assets_dir())


def demo_site_config() -> SiteConfig:
    return SiteConfig(
        site=SiteCreate(slug="demo", name="Vigie demo", kind="mixed", longitude=0.3745, latitude=49.7573),
        cameras=[
            CameraConfig(
                slug="plaza",
                name="Plaza (sample video)",
                role="traffic",
                heading_deg=90,
                hfov_deg=60,
                longitude=0.3746,
                latitude=49.7574,
                source=sample_source(),
            )
        ],
        detect=DetectPipelineConfig(
            detector=DarknetDetectorConfig(type="darknet", model="coco-yolov4-tiny", conf=0.3),
            class_names=["person", "bicycle", "car", "motorcycle", "bus", "truck"],
        ),
    )


def run_demo(
    *, settings: Settings, serve: bool = True, host: str = "127.0.0.1", port: int = 8000, max_frames: int = 60
) -> int:
    from vigie.config import sync_site
    from vigie.services.tokens import ensure_token
    from vigie.weights.manager import fetch

    if settings.env == "production":
        raise ConfigError("vigie demo uses a well-known admin token and is refused with VIGIE_ENV=production")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    print(f"demo: database {url}")
    upgrade(url)
    for name in DEMO_MODELS:
        model = fetch(name, weights_dir=settings.weights_dir)
        print(f"demo: model {model.name} {model.version} ready")

    config = demo_site_config()
    engine = make_engine(url)
    with session_scope(engine) as session:
        contexts = sync_site(session, config)
        ensure_token(
            session, name="demo-admin", token=DEMO_TOKEN, roles=["admin"], secret=settings.secret_key
        )

        # The demo replays the same samples each time: replace its previous results, do not add to them.
        demo_cameras = [ctx.camera_id for ctx in contexts.values()]
        session.execute(delete(Detection).where(Detection.camera_id.in_(demo_cameras)))

    # Every pipeline that exists runs on its sample input.
    for camera in config.cameras:
        print(f"demo: detect pipeline, camera {camera.slug}: {describe(camera.source)}")
    feeds = [
        CameraFeed(context=contexts[c.slug], source_config=c.source, health=SourceHealth(c.slug))
        for c in config.cameras
        if c.source is not None
    ]
    pipeline = build_detect_pipeline(config=config, settings=settings)
    Worker(pipeline=pipeline, feeds=feeds, engine=engine, max_frames=max_frames).run(threading.Event())
    with session_scope(engine) as session:
        counts = Counter(
            dict(
                session.execute(
                    select(Detection.class_name, func.count())
                    .where(Detection.pipeline == "detect")
                    .group_by(Detection.class_name)
                ).all()
            )
        )
    print("demo: detections stored: " + (", ".join(f"{k} {v}" for k, v in counts.most_common()) or "none"))

    # The use-case pipelines, each on its real sample input (skipped, with the reason, when absent).
    for run_pipeline_demo in PIPELINE_DEMOS:
        for line in run_pipeline_demo(settings=settings, engine=engine):
            print(f"demo: {line}")
    engine.dispose()

    if not serve:
        return 0
    import uvicorn

    from vigie.api.app import create_app

    print(f"demo: API on http://{host}:{port}/docs — token (development only): {DEMO_TOKEN}")
    print(f"demo: try  curl -H 'Authorization: Bearer {DEMO_TOKEN}' http://{host}:{port}/api/v1/sites")
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None)
    return 0
