"""The worker: one place that starts and stops capture, inference and the database writer.

Threads, not processes: decoding (PyAV) and inference (torch, OpenCV) release the GIL. Each camera has
a capture thread feeding a bounded queue: live cameras keep only the newest frame (stale frames are
dropped, never lagged behind), files and image folders apply back-pressure so that every sampled frame
is processed. One inference loop serves all cameras round-robin; one writer thread owns the database.
A failing camera is logged and retried with backoff; it never stops the others.
"""

from __future__ import annotations

import logging
import os
import queue
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vigie.errors import ConfigError, VigieError
from vigie.observability import FRAMES_DROPPED, QUEUE_DEPTH
from vigie.pipelines.base import CameraContext, Pipeline, Write
from vigie.services.cameras import record_camera_health, record_worker_heartbeat
from vigie.settings import Settings
from vigie.store.db import make_engine, session_scope
from vigie.vision.frame import Frame
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import FileSourceConfig, ImagesSourceConfig, SourceConfig
from vigie.vision.sources import Source, open_source

log = logging.getLogger("vigie.worker")

_END = object()  # end of a finite source (file, image folder)
_HEALTH_KEYS = ("state", "last_frame_at", "last_error", "reconnects", "frames_read", "frames_dropped")


def camera_health_report(health: SourceHealth, *, worker_id: str) -> dict[str, object]:
    """A source's health as the store keeps it (`CameraHealthIn` keys).

    `ended` (a file or image folder read to its end) is stored as such. `closed` has no stored state: the
    caller stopped the source before its end (the worker stops, `--max-frames`), so it is reported as it
    was doing, `up` or `down` after an error.
    """
    snap = health.snapshot()
    report = {k: snap[k] for k in _HEALTH_KEYS} | {"worker_id": worker_id}
    if report["state"] == "closed":
        report["state"] = "up" if snap["last_error"] is None else "down"
    return report


def write_camera_health(session: Session, healths: Mapping[int, SourceHealth], *, worker_id: str) -> None:
    """Store the health of each camera (by camera id): the worker's writer and the demos share this."""
    for camera_id, health in healths.items():
        record_camera_health(
            session, camera_id=camera_id, health=camera_health_report(health, worker_id=worker_id)
        )


def worker_id_for(pipeline_name: str) -> str:
    """`host:pid:pipeline`, the id under which a process reports its cameras and heartbeat."""
    return f"{socket.gethostname()}:{os.getpid()}:{pipeline_name}"


@dataclass
class CameraFeed:
    """One camera's source configuration, its capture queue and its latest health."""

    context: CameraContext
    source_config: SourceConfig
    health: SourceHealth
    queue: queue.Queue[Frame | object] = field(default_factory=lambda: queue.Queue(maxsize=2))
    finished: bool = False

    @property
    def finite(self) -> bool:
        return isinstance(self.source_config, FileSourceConfig | ImagesSourceConfig)


class Worker:
    """Runs `pipeline` over `feeds` until `stop` is set or every finite source has ended."""

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        feeds: Sequence[CameraFeed],
        engine: Engine,
        max_frames: int | None = None,
        health_interval_s: float = 5.0,
        retry_initial_s: float = 1.0,
        retry_max_s: float = 60.0,
    ) -> None:
        if not feeds:
            raise ConfigError(f"pipeline {pipeline.name!r}: no camera with a source to read")
        self.pipeline = pipeline
        self.feeds = list(feeds)
        self.engine = engine
        self.max_frames = max_frames
        self.health_interval_s = health_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.worker_id = worker_id_for(pipeline.name)
        self.writes: queue.Queue[Write | None] = queue.Queue(maxsize=10_000)
        self.frames_processed = 0
        self.errors = 0
        self._errors_lock = threading.Lock()

    # --- capture ----------------------------------------------------------------------------------

    def _capture(self, feed: CameraFeed, stop: threading.Event) -> None:
        try:
            self._capture_loop(feed, stop)
        finally:
            self._offer(feed, _END, stop)  # always, or the inference loop would wait for this camera

    def _capture_loop(self, feed: CameraFeed, stop: threading.Event) -> None:
        delay = self.retry_initial_s
        count = 0
        while not stop.is_set():
            source: Source | None = None
            try:
                source = open_source(feed.context.slug, feed.source_config)
                feed.health = source.health
                for frame in source.frames(timeout_s=0.5):
                    if stop.is_set():
                        break
                    if frame is None:
                        continue
                    self._offer(feed, frame, stop)
                    delay = self.retry_initial_s
                    count += 1
                    if self.max_frames is not None and count >= self.max_frames:
                        break
                if feed.finite or (self.max_frames is not None and count >= self.max_frames):
                    return
            except (VigieError, OSError) as exc:
                feed.health.down(str(exc))
                log.warning("camera %s: %s", feed.context.slug, exc, extra={"camera": feed.context.slug})
                if feed.finite:
                    return  # a missing or broken file does not heal; the frames it had were processed
            except Exception as exc:
                # Once around the camera loop: an unexpected failure of one camera is logged and
                # retried with backoff, never allowed to take the worker down.
                feed.health.down(f"unexpected error: {exc!r}")
                log.exception("camera %s: unexpected error", feed.context.slug)
                if feed.finite:
                    return  # reading a file again would process (and store) its frames twice
            finally:
                if source is not None:
                    source.close()
            if not stop.is_set():
                stop.wait(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.retry_max_s)

    def _offer(self, feed: CameraFeed, item: Frame | object, stop: threading.Event) -> None:
        if feed.finite or item is _END:
            while not stop.is_set():
                try:
                    feed.queue.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            return
        try:
            feed.queue.put_nowait(item)
        except queue.Full:
            try:
                feed.queue.get_nowait()
                feed.health.dropped()
                FRAMES_DROPPED.labels(camera=feed.context.slug, reason="stale").inc()
            except queue.Empty:
                pass
            feed.queue.put_nowait(item)

    # --- inference --------------------------------------------------------------------------------

    def _infer(self, stop: threading.Event) -> None:
        idle_rounds = 0
        while not stop.is_set():
            active = [f for f in self.feeds if not f.finished]
            if not active:
                return
            got_any = False
            for feed in active:
                try:
                    item = feed.queue.get(timeout=0.05 if idle_rounds else 0.0)
                except queue.Empty:
                    continue
                QUEUE_DEPTH.labels(queue=f"capture:{feed.context.slug}").set(feed.queue.qsize())
                if item is _END:
                    feed.finished = True
                    continue
                got_any = True
                assert isinstance(item, Frame)
                try:
                    for write in self.pipeline.process(feed.context, item):
                        self._put_write(write)
                    self.frames_processed += 1
                except VigieError as exc:
                    # A bad frame (black, corrupt, wrong size) is the camera's problem, not the worker's.
                    self._count_error()
                    log.warning("camera %s frame %d rejected: %s", feed.context.slug, item.sequence, exc)
                except Exception:
                    # Once around the inference step: an OpenCV, CUDA or numpy failure on one frame is
                    # logged and counted; the other cameras, and the next frames, go on.
                    self._count_error()
                    log.exception("camera %s frame %d: pipeline failed", feed.context.slug, item.sequence)
            idle_rounds = 0 if got_any else idle_rounds + 1

    def _count_error(self) -> None:
        with self._errors_lock:  # counted by the inference and the writer threads
            self.errors += 1

    def _put_write(self, write: Write | None) -> None:
        self.writes.put(write)
        QUEUE_DEPTH.labels(queue="db_writes").set(self.writes.qsize())

    # --- database writer --------------------------------------------------------------------------

    def _writer(self) -> None:
        last_health = 0.0
        done = False
        while not done:
            batch: list[Write] = []
            try:
                item = self.writes.get(timeout=0.5)
                while True:
                    if item is None:
                        done = True
                        break
                    batch.append(item)
                    if len(batch) >= 500:
                        break
                    item = self.writes.get_nowait()
            except queue.Empty:
                pass
            if batch:
                self._apply(batch)
            if done or time.monotonic() - last_health >= self.health_interval_s:
                self._write_health(final=done)
                last_health = time.monotonic()

    def _apply(self, batch: list[Write]) -> None:
        try:
            with session_scope(self.engine) as session:
                for write in batch:
                    write(session)
        except Exception:
            # One bad batch must not kill the writer; retry the writes one by one to isolate the bad one.
            log.exception("database batch of %d writes failed; retrying one by one", len(batch))
            for write in batch:
                try:
                    with session_scope(self.engine) as session:
                        write(session)
                except Exception:
                    self._count_error()
                    log.exception("database write dropped")

    def _write_health(self, *, final: bool = False) -> None:
        try:
            with session_scope(self.engine) as session:
                write_camera_health(
                    session,
                    {feed.context.camera_id: feed.health for feed in self.feeds},
                    worker_id=self.worker_id,
                )
                record_worker_heartbeat(
                    session,
                    worker_id=self.worker_id,
                    pipeline=self.pipeline.name,
                    hostname=socket.gethostname(),
                    pid=os.getpid(),
                    status="stopped" if final else "running",
                    details={"frames_processed": self.frames_processed, "errors": self.errors},
                )
        except Exception:
            log.exception("could not write health")

    # --- life cycle -------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        writer = threading.Thread(target=self._writer, name="vigie-db-writer", daemon=True)
        writer.start()
        captures = [
            threading.Thread(
                target=self._capture, args=(f, stop), name=f"capture-{f.context.slug}", daemon=True
            )
            for f in self.feeds
        ]
        for t in captures:
            t.start()
        log.info("worker %s started: %d cameras", self.worker_id, len(self.feeds))
        try:
            self._infer(stop)
        finally:
            stop.set()
            for t in captures:
                t.join(timeout=10)
            try:
                for write in self.pipeline.close():
                    self._put_write(write)
            finally:
                self._put_write(None)
                # No timeout: the final writes (closing bins, last alerts) must reach the database.
                writer.join()
                shutdown = getattr(self.pipeline, "shutdown", None)
                if shutdown is not None:
                    shutdown()
        log.info(
            "worker %s stopped after %d frames (%d errors)",
            self.worker_id,
            self.frames_processed,
            self.errors,
        )


PipelineFactory = Callable[..., Pipeline]


def pipeline_factories() -> dict[str, PipelineFactory]:
    """Registered pipelines by name; each module is imported only when its pipeline is asked for."""
    from vigie.pipelines.detect import build_detect_pipeline
    from vigie.pipelines.fire.worker import build_pipeline as build_fire
    from vigie.pipelines.lapi.worker import build_pipeline as build_lapi
    from vigie.pipelines.traffic.worker import build_pipeline as build_traffic

    return {"detect": build_detect_pipeline, "fire": build_fire, "traffic": build_traffic, "lapi": build_lapi}


def run_from_config(
    pipeline_name: str,
    config_path: Path,
    *,
    settings: Settings,
    max_frames: int | None = None,
    metrics_port: int | None = None,
    stop: threading.Event | None = None,
) -> int:
    """`vigie run PIPELINE --config FILE`: sync the site file into the database, then run the worker."""
    from vigie.config import load_site_config, sync_site
    from vigie.store.db import upgrade

    factories = pipeline_factories()
    if pipeline_name not in factories:
        raise ConfigError(
            f"unknown pipeline {pipeline_name!r}: expected one of {', '.join(sorted(factories))}"
        )
    config = load_site_config(config_path)
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as session:
        contexts = sync_site(session, config)
    pipeline = factories[pipeline_name](config=config, settings=settings)
    feeds = [
        CameraFeed(context=contexts[cam.slug], source_config=cam.source, health=SourceHealth(cam.slug))
        for cam in config.cameras
        if cam.source is not None and cam.enabled
    ]
    if metrics_port:
        from prometheus_client import start_http_server

        from vigie.observability import REGISTRY

        start_http_server(metrics_port, registry=REGISTRY)
    stop = stop or threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    if threading.current_thread() is threading.main_thread():
        for sig in previous:
            signal.signal(sig, lambda *_: stop.set())
    try:
        Worker(pipeline=pipeline, feeds=feeds, engine=engine, max_frames=max_frames).run(stop)
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        engine.dispose()
    return 0
