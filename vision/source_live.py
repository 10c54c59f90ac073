"""Live sources: network streams (RTSP/HTTP via PyAV) and polled HTTP snapshots.

A reader thread per camera connects, decodes and hands frames to the consumer through a bounded queue of
one or two frames that drops the oldest (stale) frame rather than lag behind the camera. When the camera
fails or stalls, the reader marks the source down and reconnects with capped exponential backoff and jitter.
Nothing blocks forever: PyAV gets open/read timeouts, HTTP requests a timeout, waits an Event.
"""

from __future__ import annotations

import http.client
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from abc import abstractmethod
from collections import deque
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import av
import av.container
import cv2
import numpy as np

from vigie.errors import SourceError
from vigie.observability import FRAMES_DROPPED, FRAMES_READ, QUEUE_DEPTH, STREAM_UP
from vigie.vision.frame import Frame, utc_now
from vigie.vision.source_base import FrameSampler, Source
from vigie.vision.source_config import (
    LiveSourceConfig,
    SnapshotSourceConfig,
    StreamSourceConfig,
    describe,
    redact_url,
)

log = logging.getLogger(__name__)

# How often a consumer waiting for a frame re-checks for a stall or close() when it gave no timeout.
_POLL_S = 0.25
# Demuxers whose timestamps are made up rather than read from the stream.
WALL_CLOCK_FORMATS = frozenset({"mpjpeg", "mjpeg", "jpeg_pipe", "image2pipe"})
# Longest close() waits for the reader thread (a daemon) before returning anyway.
CLOSE_WAIT_S = 3.0


def backoff_delays(initial_s: float, max_s: float, rng: random.Random | None = None) -> Iterator[float]:
    """Endless reconnect delays: doubling from `initial_s`, capped at `max_s`, each scaled by a random factor
    in [0.5, 1] so that cameras cut by the same outage do not all reconnect at the same instant."""
    rng = rng or random.Random()
    delay = initial_s
    while True:
        yield delay * rng.uniform(0.5, 1.0)
        delay = min(delay * 2.0, max_s)


class LiveSource(Source):
    """Reader thread + bounded queue + reconnect loop; subclasses implement one connection in `_session`."""

    config: LiveSourceConfig

    def __init__(self, camera_id: str, config: LiveSourceConfig) -> None:
        super().__init__(camera_id)
        self.config = config
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._queue: deque[Frame] = deque()
        self._thread: threading.Thread | None = None
        self._sequence = 0
        # Monotonic time of the last decoded frame (or of open()), read by the consumer's stall check.
        self._last_frame_mono = 0.0
        self._queue_label = f"source:{camera_id}"

    # -- reader side -------------------------------------------------------------------------------------

    def open(self) -> None:
        if self._thread is not None:
            return
        self._last_frame_mono = time.monotonic()
        self._thread = threading.Thread(
            target=self._reader_loop, name=f"source-{self.camera_id}", daemon=True
        )
        self._thread.start()

    @abstractmethod
    def _session(self) -> None:
        """One connection: deliver frames until the stop event, or return/raise when the camera is lost."""

    def _reader_loop(self) -> None:
        cfg = self.config
        delays = backoff_delays(cfg.backoff_initial_s, cfg.backoff_max_s)
        first = True
        while not self._stop.is_set():
            if not first:
                self.health.reconnecting()
            first = False
            frames_before = self.health.frames_read
            try:
                self._session()
                reason = f"{describe(cfg)}: the stream ended"
            except SourceError as exc:
                reason = str(exc)
            except (av.error.FFmpegError, OSError) as exc:
                reason = f"{describe(cfg)}: {self._redact(str(exc))}"
            except Exception as exc:  # the one catch-all: a bug must not kill the camera thread silently
                log.exception("camera %s: unexpected error in the reader", self.camera_id)
                reason = f"{describe(cfg)}: unexpected {type(exc).__name__}: {self._redact(str(exc))}"
            if self._stop.is_set():
                break
            if self.health.frames_read > frames_before:
                delays = backoff_delays(cfg.backoff_initial_s, cfg.backoff_max_s)  # it worked: start over
            delay = next(delays)
            self.health.down(reason)
            STREAM_UP.labels(camera=self.camera_id).set(0)
            log.warning("camera %s down: %s; reconnecting in %.2f s", self.camera_id, reason, delay)
            self._stop.wait(delay)

    def _deliver(
        self, image: np.ndarray, source_time_s: float | None, metadata: dict[str, object] | None = None
    ) -> None:
        """Hand one decoded frame to the consumer, dropping the oldest waiting one when the queue is full."""
        frame = Frame(
            image=image,
            camera_id=self.camera_id,
            captured_at=utc_now(),
            sequence=self._sequence,
            source_time_s=source_time_s,
            metadata=dict(metadata or {}),
        )
        self._sequence += 1
        if self.health.frame_read(frame.captured_at):
            log.info("camera %s up (%s)", self.camera_id, describe(self.config))
        FRAMES_READ.labels(camera=self.camera_id).inc()
        STREAM_UP.labels(camera=self.camera_id).set(1)
        with self._cond:
            if len(self._queue) >= self.config.queue_size:
                self._queue.popleft()
                self.health.dropped()
                FRAMES_DROPPED.labels(camera=self.camera_id, reason="stale").inc()
            self._queue.append(frame)
            QUEUE_DEPTH.labels(queue=self._queue_label).set(len(self._queue))
            self._cond.notify()

    def _decoded(self) -> None:
        """The camera produced a frame (even one sampling skips): it is not stalled."""
        self._last_frame_mono = time.monotonic()

    def _corrupt(self, message: str) -> None:
        log.debug("camera %s: %s", self.camera_id, message)
        self.health.dropped()
        self.health.error(message)
        FRAMES_DROPPED.labels(camera=self.camera_id, reason="corrupt").inc()

    def _redact(self, text: str) -> str:
        url = getattr(self.config, "url", "")
        return text.replace(url, redact_url(url)) if url else text

    # -- consumer side -----------------------------------------------------------------------------------

    def _frames(self, timeout_s: float | None) -> Iterator[Frame | None]:
        if self._thread is None:
            raise SourceError(f"camera {self.camera_id!r}: frames() called before open()")
        while not self._stop.is_set():
            frame = self._next(timeout_s)
            if frame is not None or (timeout_s is not None and not self._stop.is_set()):
                yield frame

    def _next(self, timeout_s: float | None) -> Frame | None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        with self._cond:
            while not self._queue and not self._stop.is_set():
                self._check_stall()
                if self._thread is not None and not self._thread.is_alive():
                    raise SourceError(f"camera {self.camera_id!r}: the reader thread ended unexpectedly")
                wait = _POLL_S if deadline is None else min(_POLL_S, deadline - time.monotonic())
                if wait <= 0:
                    return None
                self._cond.wait(wait)
            if self._stop.is_set() or not self._queue:
                return None
            frame = self._queue.popleft()
            QUEUE_DEPTH.labels(queue=self._queue_label).set(len(self._queue))
            return frame

    def _check_stall(self) -> None:
        """Mark the source down from the consumer side too, in case the reader is stuck in a blocking call.

        Only an `up` source can stall: before the first frame of a connection, the reader's open timeout and
        reconnect loop decide (a slow camera handshake is not a stall)."""
        silent_s = time.monotonic() - self._last_frame_mono
        if silent_s > self.config.stall_timeout_s and self.health.state == "up":
            self.health.down(f"{describe(self.config)}: no frame for {silent_s:.1f} s (stalled)")
            STREAM_UP.labels(camera=self.camera_id).set(0)

    def close(self) -> None:
        self._stop.set()
        with self._cond:
            self._queue.clear()
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            # A reader inside a blocking call ends by itself at its timeout; do not hold the caller longer.
            thread.join(min(self._join_timeout_s(), CLOSE_WAIT_S))
            if thread.is_alive():
                log.warning(
                    "camera %s: reader still in a blocking call; leaving it to time out", self.camera_id
                )
        self.health.closed()
        STREAM_UP.labels(camera=self.camera_id).set(0)
        QUEUE_DEPTH.labels(queue=self._queue_label).set(0)

    @abstractmethod
    def _join_timeout_s(self) -> float:
        """Longest a blocking call of the reader can last, so that close() waits no longer."""


class StreamSource(LiveSource):
    """An RTSP/RTSPS/HTTP(S) stream decoded with PyAV, exactly as FFmpeg reads a camera."""

    config: StreamSourceConfig

    def _read_timeout_s(self) -> float:
        return min(self.config.read_timeout_s, self.config.stall_timeout_s)

    def _join_timeout_s(self) -> float:
        return max(self.config.open_timeout_s, self._read_timeout_s()) + 1.0

    def _container_options(self) -> dict[str, str]:
        # FFmpeg's default analysis of a live stream buffers ~3 s of video before the first frame.
        options = {"analyzeduration": str(round(self.config.probe_duration_s * 1_000_000))}
        if urlsplit(self.config.url).scheme.lower() in ("rtsp", "rtsps"):
            options["rtsp_transport"] = self.config.rtsp_transport
        return options

    def _session(self) -> None:
        cfg = self.config
        try:
            container = av.open(
                cfg.url,
                mode="r",
                container_options=self._container_options(),
                timeout=(cfg.open_timeout_s, self._read_timeout_s()),
            )
        except av.error.ExitError as exc:  # PyAV's timeout interrupts FFmpeg with "Immediate exit requested"
            raise SourceError(f"{describe(cfg)}: not open after open_timeout_s={cfg.open_timeout_s}") from exc
        try:
            self._read(container)
        except av.error.ExitError as exc:
            raise SourceError(
                f"{describe(cfg)}: no data for {self._read_timeout_s()} s (read timeout)"
            ) from exc
        finally:
            container.close()

    def _read(self, container: av.container.InputContainer) -> None:
        cfg = self.config
        if not container.streams.video:
            raise SourceError(f"{describe(cfg)}: the stream has no video track")
        stream = container.streams.video[0]
        sampler = FrameSampler(cfg.target_fps)
        session_start = time.monotonic()
        # Motion-JPEG over HTTP carries no timestamps (FFmpeg invents 25 fps): time frames by their arrival.
        wall_clock = container.format.name in WALL_CLOCK_FORMATS
        self._decoded()
        for packet in container.demux(stream):
            if self._stop.is_set():
                return
            silent_s = time.monotonic() - self._last_frame_mono
            if silent_s > cfg.stall_timeout_s:
                raise SourceError(f"{describe(cfg)}: packets but no decodable frame for {silent_s:.1f} s")
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                self._corrupt(f"{describe(cfg)}: skipped a corrupt packet ({exc})")
                continue
            for frame in decoded:
                self._decoded()
                has_time = frame.time is not None and not wall_clock
                media_s = frame.time if has_time else time.monotonic() - session_start
                if not sampler.keep(media_s):
                    self._count_sampled_out()
                    continue
                self._deliver(frame.to_ndarray(format="bgr24"), media_s)


class SnapshotSource(LiveSource):
    """Polls an HTTP(S) URL that answers one JPEG/PNG per request (most IP cameras have one).

    Credentials in the URLs are sent with HTTP basic or digest authentication, as the camera asks. With
    `presets`, the source patrols a PTZ camera: for each preset in turn it requests the move URL, waits for
    the camera to settle, then takes the snapshot, tagged `metadata["pose"]`. A failed move counts as a
    failed request (the camera is marked down and reconnected): a snapshot taken without the move would
    carry the wrong pose, hence wrong bearings.
    """

    config: SnapshotSourceConfig

    def __init__(self, camera_id: str, config: SnapshotSourceConfig) -> None:
        super().__init__(camera_id, config)
        self._opener: urllib.request.OpenerDirector | None = None
        self._request_urls: dict[str, str] = {}  # configured URL -> the same without credentials
        self._next_preset = 0  # the patrol resumes where it stopped after a reconnection

    def _join_timeout_s(self) -> float:
        return self.config.timeout_s + 1.0

    def open(self) -> None:
        cfg = self.config
        passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
        urls = [cfg.url] + [u for p in cfg.presets for u in (p.goto_url, p.url) if u is not None]
        for url in urls:
            parts = urlsplit(url)
            if parts.username is None:
                self._request_urls[url] = url
                continue
            # urllib does not take credentials from the URL: move them to auth handlers.
            host = parts.hostname or ""
            netloc = f"{host}:{parts.port}" if parts.port else host
            bare = urlunsplit(parts._replace(netloc=netloc))
            self._request_urls[url] = bare
            passwords.add_password(None, bare, parts.username, parts.password or "")
        handlers = [
            urllib.request.HTTPBasicAuthHandler(passwords),
            urllib.request.HTTPDigestAuthHandler(passwords),
        ]
        self._opener = urllib.request.build_opener(*handlers)
        super().open()

    def _session(self) -> None:
        cfg = self.config
        next_due = time.monotonic()
        while not self._stop.is_set():
            metadata: dict[str, object] = {}
            url = cfg.url
            if cfg.presets:
                preset = cfg.presets[self._next_preset % len(cfg.presets)]
                if preset.goto_url is not None:
                    self._get(preset.goto_url, what=f"preset {preset.pose!r} move")
                    if self._stop.wait(preset.settle_s):
                        return
                url = preset.url or cfg.url
                metadata["pose"] = preset.pose
            image = self._fetch(url)
            self._next_preset += 1
            self._decoded()
            self._deliver(image, None, metadata)
            next_due += cfg.interval_s
            now = time.monotonic()
            next_due = max(next_due, now)  # after a slow request, do not fire a burst to catch up
            if self._stop.wait(next_due - now):
                return

    def _get(self, url: str, *, what: str | None = None) -> tuple[bytes, str]:
        """GET one URL of this camera: (body, content type); SourceError naming the source (and `what`)."""
        cfg = self.config
        where = describe(cfg) if what is None else f"{describe(cfg)}: {what}"
        if self._opener is None:
            raise SourceError(f"{where}: requested before open()")
        request = urllib.request.Request(self._request_urls[url], headers={"Cache-Control": "no-cache"})
        try:
            with self._opener.open(request, timeout=cfg.timeout_s) as response:
                content_type = response.headers.get("Content-Type", "no content type")
                body = response.read(cfg.max_bytes + 1)
        except urllib.error.HTTPError as exc:
            raise SourceError(f"{where}: HTTP {exc.code} {exc.reason}") from exc
        except urllib.error.URLError as exc:
            raise SourceError(f"{where}: cannot connect ({exc.reason})") from exc
        except (OSError, http.client.HTTPException) as exc:
            raise SourceError(f"{where}: request failed ({type(exc).__name__}: {exc})") from exc
        return body, content_type

    def _fetch(self, url: str | None = None) -> np.ndarray:
        cfg = self.config
        body, content_type = self._get(url or cfg.url)
        where = describe(cfg)
        if len(body) > cfg.max_bytes:
            raise SourceError(f"{where}: answer larger than max_bytes={cfg.max_bytes}")
        image = cv2.imdecode(np.frombuffer(body, dtype=np.uint8), cv2.IMREAD_COLOR)
        if image is None:
            raise SourceError(
                f"{where}: the answer ({len(body)} bytes, {content_type}) is not a JPEG/PNG image"
            )
        return image
