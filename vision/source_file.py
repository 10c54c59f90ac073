"""Sources read from disk: a video file (PyAV) and a directory of still images.

Files are decoded in the caller's thread, with no queue: the consumer sets the pace. Timestamps are the
file's start time plus media time, so replaying a recording gives the same `captured_at` every time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from zoneinfo import ZoneInfo

import av
import av.container
import cv2
import numpy as np

from vigie.errors import InvalidInputError, SourceError
from vigie.observability import FRAMES_DROPPED, FRAMES_READ, STREAM_UP
from vigie.vision.frame import Frame
from vigie.vision.source_base import FrameSampler, Source
from vigie.vision.source_config import FileSourceConfig, ImagesSourceConfig
from vigie.vision.source_exif import exif_capture_time

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
# A file whose last frame ends this long before its declared duration was cut short (truncated copy,
# interrupted recording); shorter gaps are frames lost to corruption and are only counted.
TRUNCATION_TOLERANCE_S = 1.0


def _mtime_utc(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC)


def _container_creation_time(container: av.container.InputContainer) -> datetime | None:
    raw = container.metadata.get("creation_time")
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        log.warning("ignoring unparsable creation_time %r in %s", raw, container.name)
        return None
    # Containers write creation_time in UTC; a missing offset means UTC by convention (ISO 14496-12).
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class FileSource(Source):
    """Decodes a video file; `frames()` ends at the end of the file, or loops when `loop` is set.

    A corrupt packet is skipped; the frames lost in a damaged stretch show as a gap in the timestamps and
    are counted (`frames_dropped`, metric reason `corrupt`), not fatal. A file that ends well before the
    duration its header declares (a truncated copy) raises `SourceError` after the frames that decoded, as
    does a demuxer error; a file with no video stream raises in `open()`, one with no decodable frame at
    the end of its first pass. Decoding runs in the caller's thread, so `frames(timeout_s)` never yields None.
    """

    def __init__(self, camera_id: str, config: FileSourceConfig) -> None:
        super().__init__(camera_id)
        self.config = config
        self._container: av.container.InputContainer | None = None
        self._start_time: datetime | None = None
        self._closed = False
        self._iterating = False  # then close() only asks the decoding loop to stop and release the file

    @property
    def start_time(self) -> datetime | None:
        """UTC time of the first frame, known once opened."""
        return self._start_time

    def open(self) -> None:
        path = self.config.path
        if not path.is_file():
            raise InvalidInputError(
                f"camera {self.camera_id!r}: video file {path} does not exist or is not a file"
            )
        self._container = self._open_container()
        self._start_time = (
            self.config.start_time or _container_creation_time(self._container) or _mtime_utc(path)
        ).astimezone(UTC)
        STREAM_UP.labels(camera=self.camera_id).set(1)

    def _open_container(self) -> av.container.InputContainer:
        path = self.config.path
        try:
            container = av.open(str(path), mode="r")
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"video file {path}: cannot be opened as a video ({exc})") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"video file {path}: contains no video stream")
        return container

    def _frames(self, timeout_s: float | None) -> Iterator[Frame | None]:
        if self._container is None:
            if self._closed:
                return
            raise SourceError(f"camera {self.camera_id!r}: frames() called before open()")
        sampler = FrameSampler(self.config.target_fps)
        sequence = 0
        offset_s = 0.0  # media time added by earlier passes when looping
        self._iterating = True
        try:
            while True:
                decoded = 0
                last_time = -1.0
                for frame, media_s in self._decode_pass(self._container):
                    if self._closed:
                        return
                    decoded += 1
                    t = offset_s + max(media_s, last_time)  # never let time run backwards
                    last_time = max(media_s, last_time)
                    if not sampler.keep(t):
                        self._count_sampled_out()
                        continue
                    captured_at = self._start_time + timedelta(seconds=t)  # type: ignore[operator]
                    self.health.frame_read()  # wall clock: health tells whether the reader is alive
                    FRAMES_READ.labels(camera=self.camera_id).inc()
                    yield Frame(
                        image=frame.to_ndarray(format="bgr24"),
                        camera_id=self.camera_id,
                        captured_at=captured_at,
                        sequence=sequence,
                        source_time_s=t,
                    )
                    sequence += 1
                if decoded == 0:
                    raise SourceError(f"video file {self.config.path}: no frame could be decoded")
                if self._closed:
                    return
                if not self.config.loop:
                    self.health.ended()  # the last frame was delivered: finished, not broken
                    return
                offset_s += last_time + self._frame_period(self._container)
                self._container.close()
                self._container = self._open_container()
        except SourceError as exc:
            self.health.down(str(exc))
            raise
        finally:
            self._iterating = False
            self._release()

    def _frame_period(self, container: av.container.InputContainer) -> float:
        rate = container.streams.video[0].average_rate or container.streams.video[0].guessed_rate
        return float(1 / rate) if rate else 0.04

    def _declared_duration_s(self, container: av.container.InputContainer) -> float | None:
        """The longest duration the headers declare: stream duration, frames × period, container duration.

        An AVI cut short still declares its full frame count while FFmpeg shortens its durations to the data
        it found, so the largest value is the one written by the recorder.
        """
        stream = container.streams.video[0]
        declared: list[float] = []
        if stream.duration and stream.time_base:
            declared.append(float(stream.duration * stream.time_base))
        if stream.frames:
            declared.append(stream.frames * self._frame_period(container))
        if container.duration:
            declared.append(container.duration / av.time_base)
        return max(declared) if declared else None

    def _decode_pass(self, container: av.container.InputContainer) -> Iterator[tuple[av.VideoFrame, float]]:
        """Yields (decoded frame, media time in s) for one pass over the file, then checks its length.

        Frames stay in FFmpeg's format: only those the sampler keeps are converted to BGR, which saves most
        of the cost at a low target_fps.
        """
        path = self.config.path
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(0)
        start_pts = stream.start_time or 0
        period = self._frame_period(container)
        index = 0
        last_media_s: float | None = None
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.error.FFmpegError, OSError) as exc:
                raise SourceError(
                    f"video file {path}: read error after {index} frames ({exc}); the file is damaged"
                ) from exc
            try:
                decoded = packet.decode()
            except (av.error.FFmpegError, ValueError) as exc:
                # Not fatal; the frame it carried shows up below as a gap in the timestamps.
                message = f"video file {path}: skipped a corrupt packet after {index} frames ({exc})"
                log.warning(message)
                self.health.error(message)
                continue
            for frame in decoded:
                media_s = (
                    float((frame.pts - start_pts) * time_base) if frame.pts is not None else index * period
                )
                if last_media_s is not None and media_s - last_media_s > 1.5 * period:
                    missing = round((media_s - last_media_s) / period) - 1
                    self._missing(f"video file {path}: {missing} frames lost before {media_s:.2f} s", missing)
                last_media_s = media_s
                index += 1
                yield frame, media_s
        declared = self._declared_duration_s(container)
        if declared is not None and last_media_s is not None:
            missing_s = declared - (last_media_s + period)
            if missing_s > max(TRUNCATION_TOLERANCE_S, 3 * period):
                raise SourceError(
                    f"video file {path}: ends at {last_media_s + period:.2f} s of the {declared:.2f} s its "
                    f"header declares ({index} frames decoded): the file is truncated or damaged"
                )

    def _missing(self, message: str, count: int) -> None:
        """Frames lost in a damaged stretch (a gap in the timestamps): counted, not fatal."""
        log.warning("%s (damaged data)", message)
        self.health.dropped(count)
        self.health.error(message)
        FRAMES_DROPPED.labels(camera=self.camera_id, reason="corrupt").inc(count)

    def close(self) -> None:
        """Release the file; from another thread during `frames()`, that loop stops at its next frame."""
        self._closed = True
        if not self._iterating:
            self._release()

    def _release(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None
        self._closed = True
        if self.health.state != "down":
            self.health.closed()
        STREAM_UP.labels(camera=self.camera_id).set(0)


class ImageDirectorySource(Source):
    """JPEG/PNG files of one directory in name order; an unreadable image is skipped and counted."""

    def __init__(self, camera_id: str, config: ImagesSourceConfig) -> None:
        super().__init__(camera_id)
        self.config = config
        self._paths: list[Path] | None = None
        self._closed = False

    def open(self) -> None:
        directory = self.config.directory
        if not directory.is_dir():
            raise InvalidInputError(f"camera {self.camera_id!r}: image directory {directory} does not exist")
        self._paths = sorted(
            p for p in directory.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
        if not self._paths:
            raise SourceError(
                f"image directory {directory}: no {'/'.join(sorted(IMAGE_SUFFIXES))} file in it"
            )
        STREAM_UP.labels(camera=self.camera_id).set(1)

    def _frames(self, timeout_s: float | None) -> Iterator[Frame | None]:
        if self._paths is None:
            if self._closed:
                return
            raise SourceError(f"camera {self.camera_id!r}: frames() called before open()")
        zone = ZoneInfo(self.config.exif_timezone)
        sampler = FrameSampler(self.config.target_fps)
        first: datetime | None = None
        sequence = 0
        try:
            for path in self._paths:
                if self._closed:
                    return
                try:
                    data = path.read_bytes()
                except OSError as exc:  # removed or unreadable since the listing: skip it like a bad image
                    self._skip(f"image {path}: cannot be read ({exc}), skipped")
                    continue
                captured_at = exif_capture_time(data, zone, name=str(path)) or _mtime_utc(path)
                first = first or captured_at
                media_s = (captured_at - first).total_seconds()
                if not sampler.keep(media_s):
                    self._count_sampled_out()
                    continue
                image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
                if image is None:
                    self._skip(f"image {path}: not a decodable JPEG/PNG, skipped")
                    continue
                self.health.frame_read()
                FRAMES_READ.labels(camera=self.camera_id).inc()
                yield Frame(
                    image=image,
                    camera_id=self.camera_id,
                    captured_at=captured_at,
                    sequence=sequence,
                    source_time_s=media_s,
                    metadata={"path": str(path)},
                )
                sequence += 1
            if not self._closed:
                self._finish(sequence)
        finally:
            self.close()

    def _finish(self, delivered: int) -> None:
        """The folder was read to its end: `ended`, or `down` if not one of its images could be used."""
        if delivered:
            self.health.ended()
        else:
            self.health.down(f"image directory {self.config.directory}: none of its images could be read")

    def _skip(self, message: str) -> None:
        log.warning(message)
        self.health.dropped()
        self.health.error(message)
        FRAMES_DROPPED.labels(camera=self.camera_id, reason="corrupt").inc()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._paths = None
        if self.health.state != "down":
            self.health.closed()
        STREAM_UP.labels(camera=self.camera_id).set(0)
