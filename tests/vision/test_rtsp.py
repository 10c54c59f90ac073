"""A real RTSP stream served on 127.0.0.1 and read with PyAV exactly as a camera would be.

`rtsp_test_server.py` (beside this file) relays the live H.264 RTP output of an ffmpeg encoder to RTSP
clients over TCP. It runs as its own process group, so the tests can freeze it (SIGSTOP: the connection stays
open but silent, as a hung camera), kill it (SIGKILL: the connection drops) and start it again on the same
port. Waits are bounded by DEADLINE_S; no test asserts how fast anything is.
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from vigie.observability import REGISTRY
from vigie.vision.frame import Frame
from vigie.vision.source_base import Source
from vigie.vision.sources import StreamSourceConfig, open_source

SERVER_SCRIPT = Path(__file__).with_name("rtsp_test_server.py")
DEADLINE_S = 30.0  # liveness bound for every wait; normal runs take a few seconds in all
FPS = 10


@pytest.fixture(scope="module")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("ffmpeg is required for the RTSP tests: install the Debian package ffmpeg")
        pytest.skip("ffmpeg is not installed (Debian package ffmpeg)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RtspServer:
    """The helper server as a process group that a test can freeze, kill and restart."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"rtsp://127.0.0.1:{port}/live"
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(SERVER_SCRIPT), "--port", str(self.port), "--fps", str(FPS)],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: signals reach the server and its ffmpeg
        )
        ready: list[str] = []
        reader = threading.Thread(target=lambda: ready.append(self.process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(DEADLINE_S)
        if not ready or not ready[0].startswith("READY"):
            self.kill()
            pytest.fail(f"the RTSP test server did not start (said {ready!r})")

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGKILL)
            self.process.wait(DEADLINE_S)


@pytest.fixture(scope="module")
def shared_server(ffmpeg: str) -> Iterator[RtspServer]:
    server = RtspServer(free_port())
    server.start()
    yield server
    server.kill()


@pytest.fixture
def own_server(ffmpeg: str) -> Iterator[RtspServer]:
    server = RtspServer(free_port())
    server.start()
    yield server
    server.kill()


def config(url: str, **overrides: object) -> StreamSourceConfig:
    values: dict[str, object] = {
        "url": url,
        "rtsp_transport": "tcp",
        "open_timeout_s": 3.0,
        "read_timeout_s": 1.0,
        "stall_timeout_s": 1.5,
        "probe_duration_s": 0.5,
        "backoff_initial_s": 0.1,
        "backoff_max_s": 0.5,
    }
    values.update(overrides)
    return StreamSourceConfig.model_validate(values)


def consume_until(source: Source, condition: Callable[[list[Frame]], bool], what: str) -> list[Frame]:
    """The worker loop: frames(timeout_s) yields None while nothing arrives, so this never hangs."""
    frames: list[Frame] = []
    deadline = time.monotonic() + DEADLINE_S
    for item in source.frames(timeout_s=0.1):
        if item is not None:
            frames.append(item)
        if condition(frames):
            return frames
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not reached within {DEADLINE_S} s; health {source.health.snapshot()}")
    pytest.fail(f"{what}: frames() ended first")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.slow
def test_reads_frames_from_a_real_rtsp_stream(shared_server: RtspServer) -> None:
    with open_source("rtsp-read", config(shared_server.url, target_fps=5)) as source:
        frames = consume_until(source, lambda seen: len(seen) >= 8, "eight frames")
        assert source.health.state == "up"
        assert sample("vigie_stream_up", camera="rtsp-read") == 1.0
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert all(f.captured_at.utcoffset().total_seconds() == 0 for f in frames)
    assert all(a.captured_at <= b.captured_at for a, b in itertools.pairwise(frames))
    assert all(a.sequence < b.sequence for a, b in itertools.pairwise(frames))
    # target_fps=5 on a 10 fps stream: kept frames are at least 1/5 s apart in media time
    gaps = [b.source_time_s - a.source_time_s for a, b in itertools.pairwise(frames)]  # type: ignore[operator]
    assert min(gaps) >= 0.99 / 5
    assert source.health.state == "closed"
    assert sample("vigie_stream_up", camera="rtsp-read") == 0.0
    assert sample("vigie_frames_read_total", camera="rtsp-read") >= len(frames)
    assert sample("vigie_frames_dropped_total", camera="rtsp-read", reason="sampling") >= len(frames) - 1


@pytest.mark.slow
def test_slow_consumer_gets_fresh_frames_and_stale_ones_are_dropped(shared_server: RtspServer) -> None:
    with open_source("rtsp-stale", config(shared_server.url, queue_size=1)) as source:
        first = consume_until(source, lambda seen: len(seen) >= 1, "a first frame")[-1]
        time.sleep(1.0)  # a slow detector: the camera delivers ~10 frames meanwhile
        fresh = consume_until(source, lambda seen: len(seen) >= 1, "a frame after the pause")[-1]
        dropped = source.health.frames_dropped
    assert fresh.sequence - first.sequence >= 5  # the gap shows the frames that were dropped
    assert fresh.source_time_s - first.source_time_s >= 0.5  # type: ignore[operator]
    stale = sample("vigie_frames_dropped_total", camera="rtsp-stale", reason="stale")
    assert stale >= 4
    assert dropped >= stale  # health counts every lost frame (stale, or a corrupt packet on joining)


@pytest.mark.slow
def test_unknown_path_is_reported_down(shared_server: RtspServer) -> None:
    url = shared_server.url.replace("/live", "/nothing-here")
    with open_source("rtsp-404", config(url)) as source:
        consume_until(source, lambda _: source.health.state == "down", "down on 404")
        assert "404" in str(source.health.last_error)
        assert source.health.frames_read == 0


@pytest.mark.slow
def test_frozen_then_killed_server_goes_down_and_recovers(own_server: RtspServer) -> None:
    source = open_source("rtsp-resilience", config(own_server.url))
    try:
        consume_until(source, lambda seen: len(seen) >= 3, "frames before any outage")

        # 1. A hung camera: the TCP connection stays open but nothing comes (SIGSTOP).
        own_server.signal(signal.SIGSTOP)
        consume_until(source, lambda _: source.health.state == "down", "down while frozen")
        assert "no frame" in str(source.health.last_error) or "no data" in str(source.health.last_error)
        own_server.signal(signal.SIGCONT)
        consume_until(source, lambda seen: len(seen) >= 3, "frames after the freeze")
        assert source.health.state == "up"
        reconnects_after_freeze = source.health.reconnects
        assert reconnects_after_freeze >= 1

        # 2. The server dies mid-stream (SIGKILL): down, reconnect attempts, then frames again on restart.
        own_server.kill()
        consume_until(source, lambda _: source.health.state == "down", "down after the kill")
        consume_until(source, lambda _: source.health.reconnects > reconnects_after_freeze, "a reconnect try")
        own_server.start()
        before = source.health.frames_read
        consume_until(source, lambda seen: len(seen) >= 3, "frames after the restart")
        snapshot = source.health.snapshot()
        assert snapshot["state"] == "up"
        assert snapshot["reconnects"] > reconnects_after_freeze
        assert snapshot["frames_read"] >= before + 3
        assert snapshot["last_error"]  # the outage stays visible after recovery
    finally:
        source.close()
    assert source.health.state == "closed"


def test_unreachable_camera_keeps_retrying_and_close_ends_frames() -> None:
    source = open_source("rtsp-gone", config(f"rtsp://127.0.0.1:{free_port()}/live"))
    consume_until(source, lambda _: source.health.reconnects >= 2, "two reconnect tries")
    assert source.health.state == "down"
    assert "refused" in str(source.health.last_error).lower()

    ended = threading.Event()

    def worker() -> None:
        for _ in source.frames():  # no timeout: returns only once the source is closed
            pass
        ended.set()

    thread = threading.Thread(target=worker, daemon=True)
    thread.start()
    source.close()
    assert ended.wait(DEADLINE_S)
    assert source.health.state == "closed"
