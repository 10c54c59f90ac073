"""Snapshot sources against a local HTTP server: frames, errors → down, recovery, credentials, close()."""

from __future__ import annotations

import base64
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import numpy as np
import pytest

from vigie.vision.frame import Frame
from vigie.vision.source_base import Source
from vigie.vision.sources import SnapshotSourceConfig, open_source

DEADLINE_S = 15.0  # liveness bound for waits below; they normally end in well under a second


class Camera:
    """What the fake camera answers: `mode` is ok, error (HTTP 500) or garbage (200 with HTML)."""

    def __init__(self, credentials: str | None = None) -> None:
        self.mode = "ok"
        self.credentials = credentials
        self.requests = 0
        image = np.zeros((60, 80, 3), dtype=np.uint8)
        image[:, :40] = (0, 0, 255)  # left half red (BGR)
        self.jpeg = cv2.imencode(".jpg", image)[1].tobytes()


def serve(camera: Camera) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            camera.requests += 1
            if camera.credentials:
                expected = "Basic " + base64.b64encode(camera.credentials.encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="camera"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            if camera.mode == "error":
                body, status, kind = b"internal error", 500, "text/plain"
            elif camera.mode == "garbage":
                body, status, kind = b"<html>login required</html>", 200, "text/html"
            else:
                body, status, kind = camera.jpeg, 200, "image/jpeg"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def camera() -> Iterator[tuple[Camera, str]]:
    cam = Camera()
    server, address = serve(cam)
    yield cam, address
    server.shutdown()
    server.server_close()


def fast_config(url: str) -> SnapshotSourceConfig:
    return SnapshotSourceConfig(
        url=url,
        interval_s=0.05,
        timeout_s=2.0,
        stall_timeout_s=1.0,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )


def wait_until(source: Source, condition: Callable[[list[Frame]], bool]) -> list[Frame]:
    """Consume frames until `condition(frames seen so far)` holds; returns them. Fails past DEADLINE_S."""
    frames: list[Frame] = []
    deadline = time.monotonic() + DEADLINE_S
    for item in source.frames(timeout_s=0.05):
        if item is not None:
            frames.append(item)
        if condition(frames):
            return frames
        assert time.monotonic() < deadline, f"condition not reached; health: {source.health.snapshot()}"
    raise AssertionError("frames() ended before the condition was reached")


def test_snapshots_then_errors_mark_down_then_recovery(camera: tuple[Camera, str]) -> None:
    cam, address = camera
    with open_source("cam-snap", fast_config(f"http://{address}/snapshot.jpg")) as source:
        frames = wait_until(source, lambda seen: len(seen) >= 3)
        assert frames[0].image.shape == (60, 80, 3)
        assert frames[0].image[30, 10, 2] > 200 and frames[0].image[30, 70, 2] < 50  # red half, dark half
        assert all(
            f.captured_at.tzinfo is not None and f.captured_at.utcoffset().total_seconds() == 0
            for f in frames
        )
        assert all(a.captured_at < b.captured_at for a, b in itertools.pairwise(frames))
        assert all(a.sequence < b.sequence for a, b in itertools.pairwise(frames))
        assert source.health.state == "up"

        cam.mode = "error"
        wait_until(source, lambda _: source.health.state == "down")
        assert "HTTP 500" in str(source.health.last_error)

        cam.mode = "garbage"
        wait_until(source, lambda _: "not a JPEG/PNG" in str(source.health.last_error))
        assert "text/html" in str(source.health.last_error)
        assert source.health.state == "down"

        cam.mode = "ok"
        recovered = wait_until(source, lambda seen: len(seen) >= 1)
        assert source.health.state == "up"
        assert source.health.reconnects >= 2
        assert recovered[-1].sequence > frames[-1].sequence
    assert source.health.state == "closed"


def test_credentials_in_the_url_are_sent_as_basic_auth() -> None:
    cam = Camera(credentials="viewer:p4ss")
    server, address = serve(cam)
    try:
        with open_source("cam-auth", fast_config(f"http://viewer:p4ss@{address}/snap.jpg")) as source:
            frames = wait_until(source, lambda seen: len(seen) >= 1)
        assert frames[0].image.shape == (60, 80, 3)

        with open_source("cam-auth-bad", fast_config(f"http://viewer:wrong@{address}/snap.jpg")) as source:
            wait_until(source, lambda _: source.health.state == "down")
            assert "401" in str(source.health.last_error)
            assert "wrong" not in str(source.health.last_error)
    finally:
        server.shutdown()
        server.server_close()


def test_unreachable_camera_is_down_and_close_does_not_hang() -> None:
    with socket.socket() as probe:  # a port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = open_source("cam-gone", fast_config(f"http://127.0.0.1:{port}/snap.jpg"))
    wait_until(source, lambda _: source.health.reconnects >= 2)
    assert source.health.state == "down"
    assert "cannot connect" in str(source.health.last_error)

    ended = threading.Event()

    def consume() -> None:
        for _ in source.frames():  # no timeout: returns only when the source is closed
            pass
        ended.set()

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    source.close()
    assert ended.wait(DEADLINE_S)
    assert source.health.state == "closed"


PTZ_COLOURS = {"1": (0, 0, 255), "2": (0, 255, 0)}  # BGR: red at preset 1, green at preset 2


class PtzCamera(Camera):
    """A PTZ camera: `/goto/N` moves it to preset N; the snapshot's colour says where it points."""

    def __init__(self) -> None:
        super().__init__()
        self.position = "1"
        self.moves: list[str] = []
        self.fail_moves = False

    def snapshot(self) -> bytes:
        image = np.zeros((60, 80, 3), dtype=np.uint8)
        image[:] = PTZ_COLOURS[self.position]
        return cv2.imencode(".png", image)[1].tobytes()


def serve_ptz(camera: PtzCamera) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, kind = 200, b"OK", "text/plain"
            if self.path.startswith("/goto/"):
                if camera.fail_moves:
                    status, body = 503, b"busy"
                else:
                    camera.position = self.path.rsplit("/", 1)[1]
                    camera.moves.append(camera.position)
            else:
                body, kind = camera.snapshot(), "image/png"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"127.0.0.1:{server.server_address[1]}"


def ptz_config(address: str) -> SnapshotSourceConfig:
    base = f"http://{address}"
    return SnapshotSourceConfig.model_validate(
        {
            "url": f"{base}/snapshot.png",
            "interval_s": 0.05,
            "timeout_s": 2.0,
            "stall_timeout_s": 1.0,
            "backoff_initial_s": 0.05,
            "backoff_max_s": 0.2,
            "presets": [
                {"pose": "north", "goto_url": f"{base}/goto/1", "settle_s": 0.01},
                {"pose": "east", "goto_url": f"{base}/goto/2", "settle_s": 0.01},
            ],
        }
    )


def test_ptz_patrol_moves_before_each_snapshot_and_tags_the_pose() -> None:
    cam = PtzCamera()
    server, address = serve_ptz(cam)
    source = open_source("ptz", ptz_config(address))
    try:
        frames = wait_until(source, lambda fs: len(fs) >= 4)
    finally:
        source.close()
        server.shutdown()
        server.server_close()
    poses = [f.metadata["pose"] for f in frames[:4]]
    assert poses == ["north", "east", "north", "east"]
    for frame in frames[:4]:
        # The image is the one taken after its own move: red at preset 1 (north), green at 2 (east).
        red = frame.image[..., 2].mean() > 200
        assert red == (frame.metadata["pose"] == "north"), frame.metadata
    assert {"1", "2"} <= set(cam.moves)


def test_ptz_failed_move_takes_no_snapshot_and_marks_the_camera_down() -> None:
    cam = PtzCamera()
    cam.fail_moves = True
    server, address = serve_ptz(cam)
    source = open_source("ptz", ptz_config(address))
    try:
        deadline = time.monotonic() + DEADLINE_S
        frames = []
        for item in source.frames(timeout_s=0.05):
            if item is not None:
                frames.append(item)
            if source.health.snapshot()["state"] == "down":
                break
            assert time.monotonic() < deadline, source.health.snapshot()
        health = source.health.snapshot()
        assert "preset 'north' move: HTTP 503" in str(health["last_error"])
        assert frames == []  # never a frame that would carry a pose the camera is not at
        cam.fail_moves = False
        recovered = wait_until(source, lambda fs: len(fs) >= 1)
        assert recovered[0].metadata["pose"] == "north"
    finally:
        source.close()
        server.shutdown()
        server.server_close()


def test_ptz_presets_are_validated() -> None:
    base = {"url": "http://cam/snap.jpg", "stall_timeout_s": 20.0, "interval_s": 5.0}
    with pytest.raises(ValueError, match="repeated: north"):
        SnapshotSourceConfig.model_validate({**base, "presets": [{"pose": "north"}, {"pose": "north"}]})
    with pytest.raises(ValueError, match="plus the longest preset settle_s"):
        SnapshotSourceConfig.model_validate({**base, "presets": [{"pose": "north", "settle_s": 15.0}]})
    with pytest.raises(ValueError, match="unsupported scheme 'rtsp'"):
        SnapshotSourceConfig.model_validate({**base, "presets": [{"pose": "n", "goto_url": "rtsp://cam/1"}]})
    config = SnapshotSourceConfig.model_validate(
        {**base, "presets": [{"pose": "n", "goto_url": "http://admin:secret@cam/goto/1"}]}
    )
    assert "secret" not in repr(config)
