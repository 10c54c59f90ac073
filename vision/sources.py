"""Camera sources behind one small interface: `open_source(camera_id, config)` → `Source`.

    with open_source("north-1", StreamSourceConfig(url="rtsp://10.0.0.5/stream1", target_fps=2)) as src:
        for frame in src.frames(timeout_s=5):
            if frame is None:          # no frame for 5 s: publish src.health.snapshot(), check for shutdown
                continue
            ...

Kinds (the config's `type`): `file` (a video file), `images` (a directory of JPEG/PNG), `stream` (RTSP or
HTTP video read with PyAV), `snapshot` (an HTTP JPEG URL polled every `interval_s`). Live kinds reconnect by
themselves and report their state in `Source.health`.
"""

from __future__ import annotations

from collections.abc import Mapping

from vigie.errors import InvalidInputError
from vigie.vision.health import SourceHealth, SourceState
from vigie.vision.source_base import FrameSampler, Source
from vigie.vision.source_config import (
    FileSourceConfig,
    ImagesSourceConfig,
    PtzPresetConfig,
    SnapshotSourceConfig,
    SourceConfig,
    StreamSourceConfig,
    parse_source_config,
    redact_url,
)
from vigie.vision.source_file import FileSource, ImageDirectorySource
from vigie.vision.source_live import LiveSource, SnapshotSource, StreamSource


def open_source(camera_id: str, config: SourceConfig | Mapping[str, object]) -> Source:
    """Build the source for `config` and open it (files are opened, live readers started).

    Raises `InvalidInputError` for a bad camera id, configuration or missing path, `SourceError` for a file
    that is not a readable video. A live camera that is unreachable is not an error here: its source starts
    `down` and keeps reconnecting.
    """
    if not isinstance(camera_id, str) or not camera_id.strip():
        raise InvalidInputError(f"camera id {camera_id!r}: expected a non-empty string")
    if isinstance(config, Mapping):
        config = parse_source_config(dict(config), where=f"camera {camera_id!r}")
    source: Source
    if isinstance(config, FileSourceConfig):
        source = FileSource(camera_id, config)
    elif isinstance(config, ImagesSourceConfig):
        source = ImageDirectorySource(camera_id, config)
    elif isinstance(config, StreamSourceConfig):
        source = StreamSource(camera_id, config)
    elif isinstance(config, SnapshotSourceConfig):
        source = SnapshotSource(camera_id, config)
    else:
        raise InvalidInputError(
            f"camera {camera_id!r}: expected a source configuration (file, images, stream or snapshot), "
            f"got {type(config).__name__}"
        )
    source.open()
    return source


__all__ = [
    "FileSource",
    "FileSourceConfig",
    "FrameSampler",
    "ImageDirectorySource",
    "ImagesSourceConfig",
    "LiveSource",
    "PtzPresetConfig",
    "SnapshotSource",
    "SnapshotSourceConfig",
    "Source",
    "SourceConfig",
    "SourceHealth",
    "SourceState",
    "StreamSource",
    "StreamSourceConfig",
    "open_source",
    "parse_source_config",
    "redact_url",
]
