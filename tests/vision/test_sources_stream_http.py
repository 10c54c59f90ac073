"""`stream` sources over HTTP: a local Motion-JPEG camera read with PyAV, hanging up and reconnected."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from vigie.vision.frame import Frame
from vigie.vision.sources import StreamSourceConfig, open_source

DEADLINE_S = 20.0
FRAMES_PER_CONNECTION = 8  # then the camera hangs up, as cheap cameras do when they reboot


@pytest.fixture
def mjpeg_camera() -> Iterator[tuple[str, list[int]]]:
    """An MJPEG camera at ~20 fps; frame k of a connection has gray level 20*k. Yields (url, connections)."""
    connections: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            connections.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "multipart/x-mixed-replace;boundary=frame")
            self.end_headers()
            try:
                for k in range(FRAMES_PER_CONNECTION):
                    jpeg = cv2.imencode(".jpg", np.full((48, 64, 3), 20 * k, dtype=np.uint8))[1].tobytes()
                    head = f"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n"
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                return

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/video.mjpg", connections
    server.shutdown()
    server.server_close()


def test_mjpeg_over_http_reconnects_after_the_camera_hangs_up(mjpeg_camera: tuple[str, list[int]]) -> None:
    url, connections = mjpeg_camera
    cfg = StreamSourceConfig(
        url=url,
        open_timeout_s=3,
        read_timeout_s=1,
        stall_timeout_s=2,
        probe_duration_s=0.2,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
        queue_size=2,
    )
    frames: list[Frame] = []
    deadline = time.monotonic() + DEADLINE_S
    with open_source("mjpeg-cam", cfg) as source:
        for item in source.frames(timeout_s=0.1):
            if item is not None:
                frames.append(item)
            if len(connections) >= 3 and source.health.state == "up":
                break
            assert time.monotonic() < deadline, source.health.snapshot()
        health = source.health.snapshot()
    assert health["reconnects"] >= 2
    assert str(health["last_error"]).startswith(f"stream {url}")  # the hang-up, naming the camera
    assert frames[0].image.shape == (48, 64, 3)
    assert all(a.sequence < b.sequence for a, b in itertools.pairwise(frames))
    # gray levels restart with each connection: the frames come from several connections, in order
    levels = [int(f.image[24, 32, 0]) for f in frames]
    assert any(b < a for a, b in itertools.pairwise(levels))


def test_mjpeg_sampling_uses_arrival_time(mjpeg_camera: tuple[str, list[int]]) -> None:
    url, _ = mjpeg_camera
    cfg = StreamSourceConfig(url=url, target_fps=5, probe_duration_s=0.2, backoff_initial_s=0.05)
    with open_source("mjpeg-sampled", cfg) as source:
        frames: list[Frame] = []
        deadline = time.monotonic() + DEADLINE_S
        for item in source.frames(timeout_s=0.1):
            if item is not None:
                frames.append(item)
            if len(frames) >= 4:
                break
            assert time.monotonic() < deadline, source.health.snapshot()
    # MJPEG has no timestamps of its own (FFmpeg would number frames at 25 fps); kept frames are at least
    # 1/target_fps apart on the arrival clock within a connection.
    gaps = [b.source_time_s - a.source_time_s for a, b in itertools.pairwise(frames)]  # type: ignore[operator]
    within_connection = [g for g in gaps if g > 0]
    assert within_connection and min(within_connection) >= 0.99 / 5
