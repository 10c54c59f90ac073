"""Typed configuration of a camera source, one model per kind chosen by the `type` discriminator.

Validation is pure: it checks shapes and values (URL scheme, positive timeouts), never touches the network
or the disk. Whether a file exists is checked by `open_source`, on the machine that reads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit, urlunsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from vigie.errors import ConfigError

STREAM_SCHEMES = ("rtsp", "rtsps", "http", "https")
SNAPSHOT_SCHEMES = ("http", "https")


def redact_url(url: str) -> str:
    """The URL without its password, for logs, errors and health (camera URLs often carry credentials)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def _check_scheme(url: str, allowed: tuple[str, ...], kind: str) -> str:
    scheme = urlsplit(url).scheme.lower()
    if scheme not in allowed:
        raise ValueError(
            f"{kind} url {redact_url(url)!r}: unsupported scheme {scheme or '(none)'!r}, "
            f"expected one of {', '.join(s + '://' for s in allowed)}"
        )
    if not urlsplit(url).hostname:
        raise ValueError(f"{kind} url {redact_url(url)!r}: no host")
    return url


class _SourceConfigBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _SampledMixin(BaseModel):
    target_fps: float | None = Field(
        None,
        gt=0,
        title="Target frame rate",
        description="Keep a frame only when its media time has advanced by at least 1/target_fps since the "
        "last kept frame. None keeps every frame.",
    )


class _ReconnectMixin(BaseModel):
    backoff_initial_s: float = Field(
        1.0, gt=0, title="First reconnect delay (s)", description="Delay before the first reconnection."
    )
    backoff_max_s: float = Field(
        60.0,
        gt=0,
        title="Longest reconnect delay (s)",
        description="Cap of the doubling delay (with jitter).",
    )
    stall_timeout_s: float = Field(
        20.0,
        gt=0,
        title="Stall timeout (s)",
        description="A source that delivers no frame for this long is marked down and reconnected.",
    )
    queue_size: int = Field(
        1,
        ge=1,
        le=2,
        title="Frame queue size",
        description="Frames waiting for the consumer; when full, the oldest is dropped as stale.",
    )

    @model_validator(mode="after")
    def _backoff_order(self) -> _ReconnectMixin:
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError(
                f"backoff_max_s ({self.backoff_max_s}) must be >= backoff_initial_s "
                f"({self.backoff_initial_s})"
            )
        return self


class FileSourceConfig(_SourceConfigBase, _SampledMixin):
    type: Literal["file"] = Field("file", title="Source type")
    path: Path = Field(
        title="Video file", description="Any container/codec FFmpeg reads (mp4, mkv, avi, ts)."
    )
    start_time: AwareDatetime | None = Field(
        None,
        title="Start time (UTC)",
        description="Wall-clock time of the first frame. Default: the container's creation_time if present, "
        "else the file's modification time.",
    )
    loop: bool = Field(False, title="Loop", description="Start again at the end (demonstrations).")


class ImagesSourceConfig(_SourceConfigBase, _SampledMixin):
    type: Literal["images"] = Field("images", title="Source type")
    directory: Path = Field(title="Image directory", description="JPEG/PNG files, read in name order.")
    exif_timezone: str = Field(
        "UTC",
        title="EXIF time zone",
        description="IANA zone of the camera clock, applied to EXIF DateTimeOriginal when the file carries "
        "no OffsetTimeOriginal (e.g. Europe/Paris).",
    )

    @field_validator("exif_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"exif_timezone {value!r} is not an IANA time zone (e.g. Europe/Paris)") from exc
        return value


class StreamSourceConfig(_SourceConfigBase, _SampledMixin, _ReconnectMixin):
    type: Literal["stream"] = Field("stream", title="Source type")
    url: str = Field(
        repr=False,
        title="Stream URL",
        description="rtsp://, rtsps://, http:// or https:// (MJPEG, HLS...). Credentials in the URL are "
        "never logged.",
    )
    rtsp_transport: Literal["tcp", "udp"] = Field(
        "tcp", title="RTSP transport", description="tcp (interleaved, robust through NAT) or udp."
    )
    open_timeout_s: float = Field(10.0, gt=0, title="Open timeout (s)", description="Connect and probe.")
    read_timeout_s: float = Field(
        5.0, gt=0, title="Read timeout (s)", description="Longest wait for one packet before giving up."
    )
    probe_duration_s: float = Field(
        2.0,
        gt=0,
        le=30,
        title="Probe duration (s)",
        description="Video FFmpeg analyses on connect before the first frame; raise it for cameras whose "
        "key frames are further apart.",
    )

    @field_validator("url")
    @classmethod
    def _stream_scheme(cls, value: str) -> str:
        return _check_scheme(value, STREAM_SCHEMES, "stream")


class PtzPresetConfig(_SourceConfigBase):
    """One stop of a PTZ camera's patrol: move to a preset, let it settle, take the snapshot."""

    pose: str = Field(
        min_length=1,
        max_length=64,
        title="Pose",
        description="Name of the camera's PTZ preset (`poses[].name` of the camera): frames taken here carry "
        "it, so that bearings use this preset's heading and field of view.",
    )
    goto_url: str | None = Field(
        None,
        repr=False,
        title="Move URL",
        description="http(s) URL requested (GET) to move the camera to this preset, e.g. the camera's CGI "
        "`.../PTZCtrl/channels/1/presets/2/goto`. None when `url` is already this preset's own snapshot.",
    )
    url: str | None = Field(
        None,
        repr=False,
        title="Snapshot URL",
        description="Snapshot at this preset; default: the source's url.",
    )
    settle_s: float = Field(
        3.0,
        ge=0,
        le=120,
        title="Settle time (s)",
        description="Wait after the move (motors, focus, exposure).",
    )

    @field_validator("goto_url", "url")
    @classmethod
    def _http_scheme(cls, value: str | None) -> str | None:
        return None if value is None else _check_scheme(value, SNAPSHOT_SCHEMES, "preset")


class SnapshotSourceConfig(_SourceConfigBase, _ReconnectMixin):
    type: Literal["snapshot"] = Field("snapshot", title="Source type")
    url: str = Field(
        repr=False, title="Snapshot URL", description="http(s) URL answering one JPEG/PNG image per request."
    )
    interval_s: float = Field(5.0, gt=0, title="Poll interval (s)", description="Time between two requests.")
    timeout_s: float = Field(10.0, gt=0, title="Request timeout (s)", description="Per request.")
    max_bytes: int = Field(
        32 * 1024 * 1024, gt=0, title="Largest image (bytes)", description="Larger answers are refused."
    )
    presets: list[PtzPresetConfig] = Field(
        default_factory=list,
        title="PTZ patrol",
        description="A PTZ camera's presets, visited in turn, one snapshot each (`interval_s` apart); each "
        "frame carries its preset's `pose`. Empty for a fixed camera.",
    )

    @field_validator("url")
    @classmethod
    def _snapshot_scheme(cls, value: str) -> str:
        return _check_scheme(value, SNAPSHOT_SCHEMES, "snapshot")

    @model_validator(mode="after")
    def _stall_after_interval(self) -> SnapshotSourceConfig:
        # A patrol stop also waits for the move to settle before its snapshot.
        longest_stop = self.interval_s + max((p.settle_s for p in self.presets), default=0.0)
        if self.stall_timeout_s <= longest_stop:
            raise ValueError(
                f"stall_timeout_s ({self.stall_timeout_s}) must be longer than interval_s ({self.interval_s})"
                + (" plus the longest preset settle_s" if self.presets else "")
            )
        poses = [p.pose for p in self.presets]
        repeated = sorted({pose for pose in poses if poses.count(pose) > 1})
        if repeated:
            raise ValueError(f"presets: each pose once per patrol, repeated: {', '.join(repeated)}")
        return self


SourceConfig = Annotated[
    FileSourceConfig | ImagesSourceConfig | StreamSourceConfig | SnapshotSourceConfig,
    Field(discriminator="type"),
]
LiveSourceConfig = StreamSourceConfig | SnapshotSourceConfig

_ADAPTER: TypeAdapter[SourceConfig] = TypeAdapter(SourceConfig)


def parse_source_config(data: object, *, where: str = "source") -> SourceConfig:
    """Validate a dict (from YAML, JSON or the database) into a config; errors become `ConfigError`
    naming `where` (e.g. "cameras.yaml: camera north-1"), each field and what was expected."""
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"{where}: invalid source configuration: {problems}") from exc


def describe(config: SourceConfig) -> str:
    """Where frames come from, safe to log."""
    if isinstance(config, FileSourceConfig):
        return f"file {config.path}"
    if isinstance(config, ImagesSourceConfig):
        return f"image directory {config.directory}"
    return f"{config.type} {redact_url(config.url)}"


__all__ = [
    "FileSourceConfig",
    "ImagesSourceConfig",
    "LiveSourceConfig",
    "PtzPresetConfig",
    "SnapshotSourceConfig",
    "SourceConfig",
    "StreamSourceConfig",
    "describe",
    "parse_source_config",
    "redact_url",
]
