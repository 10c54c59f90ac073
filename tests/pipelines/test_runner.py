"""The worker with synthetic pipelines: each frame processed once, dead cameras isolated, health kept."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.api.app import create_app
from vigie.errors import ConfigError, InvalidInputError
from vigie.observability import REGISTRY
from vigie.pipelines.base import CameraContext, Write
from vigie.pipelines.runner import CameraFeed, Worker, camera_health_report
from vigie.services.cameras import create_camera
from vigie.services.fire_views import fire_cameras
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import session_scope
from vigie.store.models import Camera, CameraHealth, CameraRole, CameraState, Detection, WorkerHealth
from vigie.vision.frame import Frame
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import FileSourceConfig, StreamSourceConfig

SECRET = "runner-tests-secret-" + "k" * 32


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-second 10 fps test video made by ffmpeg."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=size=160x120:rate=10:duration=2",
            "-pix_fmt",
            "yuv420p",
            str(path),
        ],
        check=True,
    )
    return path


class BoxPerFrame:
    """Writes one detection row per frame; rejects frames whose sequence is in `bad`."""

    name = "synthetic"

    def __init__(self, bad: set[int] = frozenset(), crash: set[int] = frozenset()) -> None:  # type: ignore[assignment]
        self.seen: list[tuple[str, int]] = []
        self.bad = bad
        self.crash = crash
        self.closed = False
        self.shut_down = False

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        self.seen.append((camera.slug, frame.sequence))
        if frame.sequence in self.bad:
            raise InvalidInputError(f"frame {frame.sequence} is black")
        if frame.sequence in self.crash:
            raise RuntimeError("cv2.error: (-215:Assertion failed) in a library")

        def write(session: Session) -> None:
            session.add(
                Detection(
                    camera_id=camera.camera_id,
                    captured_at=frame.captured_at,
                    pipeline=self.name,
                    class_name="thing",
                    confidence=0.5,
                    x1=0,
                    y1=0,
                    x2=1,
                    y2=1,
                    model_name="synthetic",
                    model_version="1",
                )
            )

        return [write]

    def close(self) -> Sequence[Write]:
        self.closed = True
        return []

    def shutdown(self) -> None:
        self.shut_down = True


def make_feeds(engine, sources: dict[str, object]) -> list[CameraFeed]:
    with session_scope(engine) as session:
        site = create_site(session, data=SiteCreate(slug="s", name="S", kind="mixed"))
        feeds = []
        for slug, source in sources.items():
            cam = create_camera(
                session, site_id=site.id, data=CameraCreate(slug=slug, name=slug, role="other")
            )
            ctx = CameraContext(camera_id=cam.id, slug=slug, site_id=site.id)
            feeds.append(CameraFeed(context=ctx, source_config=source, health=SourceHealth(slug)))
    return feeds


def test_every_sampled_frame_is_processed_once_and_written(engine, clip: Path) -> None:
    feeds = make_feeds(
        engine,
        {
            "a": FileSourceConfig(type="file", path=clip),
            "b": FileSourceConfig(type="file", path=clip, target_fps=5),
        },
    )
    pipeline = BoxPerFrame(bad={3}, crash={7})
    worker = Worker(pipeline=pipeline, feeds=feeds, engine=engine)
    read_before = REGISTRY.get_sample_value("vigie_frames_read_total", {"camera": "a"}) or 0.0
    worker.run(threading.Event())
    # The Prometheus metrics a worker exposes (`--metrics-port`) counted the frames too.
    assert REGISTRY.get_sample_value("vigie_frames_read_total", {"camera": "a"}) - read_before == 20
    assert REGISTRY.get_sample_value("vigie_queue_depth", {"queue": "db_writes"}) is not None
    per_camera = {slug: sorted(seq for s, seq in pipeline.seen if s == slug) for slug in ("a", "b")}
    assert per_camera["a"] == list(range(20))  # back-pressure on files: nothing dropped
    assert len(per_camera["b"]) == 10  # sampled at 5 fps
    assert pipeline.closed and pipeline.shut_down
    with session_scope(engine) as session:
        rows = session.scalar(select(func.count()).select_from(Detection))
        # Frame 3 of each camera was rejected and frame 7 crashed the pipeline: neither is fatal.
        assert rows == 20 + 10 - 2 - 2
        health = {h.camera_id: h for h in session.scalars(select(CameraHealth))}
        assert {h.frames_read for h in health.values()} == {20, 10}
        assert {h.state for h in health.values()} == {"ended"}  # finished files are not live cameras
        beat = session.scalars(select(WorkerHealth)).one()
        assert beat.status == "stopped" and beat.details["frames_processed"] == 26
        assert beat.details["errors"] == 4


def test_dead_camera_does_not_stop_the_others(engine, clip: Path, tmp_path: Path) -> None:
    feeds = make_feeds(
        engine,
        {
            "good": FileSourceConfig(type="file", path=clip),
            "gone": FileSourceConfig(type="file", path=tmp_path / "missing.mp4"),
            "unplugged": StreamSourceConfig(
                type="stream",
                url="rtsp://127.0.0.1:9/none",
                open_timeout_s=0.5,
                read_timeout_s=0.5,
                backoff_initial_s=0.1,
                backoff_max_s=0.2,
            ),
        },
    )
    pipeline = BoxPerFrame()
    stop = threading.Event()
    worker = Worker(pipeline=pipeline, feeds=feeds, engine=engine, health_interval_s=0.2, retry_initial_s=0.1)
    timer = threading.Timer(4.0, stop.set)
    timer.start()
    try:
        worker.run(stop)
    finally:
        timer.cancel()
    assert sum(1 for s, _ in pipeline.seen if s == "good") == 20
    with session_scope(engine) as session:
        health = {h.camera.slug: h for h in session.scalars(select(CameraHealth))}
        assert health["good"].frames_read == 20 and health["good"].state == "ended"
        assert health["unplugged"].state == "down" and health["unplugged"].last_error
        assert health["gone"].state == "down" and "missing.mp4" in health["gone"].last_error


def test_file_stopped_before_its_end_is_not_reported_ended(engine, clip: Path) -> None:
    feeds = make_feeds(engine, {"cut": FileSourceConfig(type="file", path=clip)})
    Worker(pipeline=BoxPerFrame(), feeds=feeds, engine=engine, max_frames=3).run(threading.Event())
    with session_scope(engine) as session:
        row = session.scalars(select(CameraHealth)).one()
        assert (row.state, row.frames_read) == ("up", 3)


def test_ended_camera_is_shown_as_ended_and_not_up(engine, db_url: str, clip: Path) -> None:
    feeds = make_feeds(engine, {"replay": FileSourceConfig(type="file", path=clip)})
    camera_id = feeds[0].context.camera_id
    with session_scope(engine) as session:
        session.get(Camera, camera_id).role = CameraRole.LOOKOUT  # listed by the fire console too
    Worker(pipeline=BoxPerFrame(), feeds=feeds, engine=engine).run(threading.Event())

    with session_scope(engine) as session:
        _, token = create_token(session, name="op", roles=["operator"], secret=SECRET)
        [fire_camera] = fire_cameras(session, now=datetime.now(UTC))
    assert (fire_camera.health.state, fire_camera.health.up) == (CameraState.ENDED, False)
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        listed = client.get("/api/v1/health/cameras", headers=headers).json()
        fire = client.get("/api/v1/fire/cameras", headers=headers).json()
        schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert [(c["camera_id"], c["state"], c["up"]) for c in listed] == [(camera_id, "ended", False)]
    assert [(c["id"], c["health"]["state"]) for c in fire] == [(camera_id, "ended")]
    assert "ended" in schema["CameraState"]["enum"]


def test_health_report_keeps_ended_and_maps_closed(engine) -> None:
    ended = SourceHealth("a")
    ended.frame_read()
    ended.ended()
    stopped = SourceHealth("b")
    stopped.frame_read()
    stopped.closed()
    failed = SourceHealth("c")
    failed.down("read error")
    failed.closed()
    reports = {h.camera_id: camera_health_report(h, worker_id="w") for h in (ended, stopped, failed)}
    assert {k: r["state"] for k, r in reports.items()} == {"a": "ended", "b": "up", "c": "down"}
    assert reports["a"]["worker_id"] == "w" and reports["a"]["frames_read"] == 1


def test_worker_needs_a_camera(engine) -> None:
    with pytest.raises(ConfigError, match="no camera"):
        Worker(pipeline=BoxPerFrame(), feeds=[], engine=engine)
