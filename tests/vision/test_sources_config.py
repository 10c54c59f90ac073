"""Source configuration, the frame sampler, backoff delays, health snapshots and `open_source` errors."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from pydantic import ValidationError

from vigie.errors import ConfigError, InvalidInputError
from vigie.vision.health import SourceHealth
from vigie.vision.source_live import backoff_delays
from vigie.vision.sources import (
    FileSourceConfig,
    FrameSampler,
    SnapshotSourceConfig,
    StreamSourceConfig,
    open_source,
    parse_source_config,
    redact_url,
)


def test_discriminator_picks_the_model() -> None:
    stream = parse_source_config({"type": "stream", "url": "rtsps://cam.example:322/live", "target_fps": 2})
    assert isinstance(stream, StreamSourceConfig)
    assert stream.target_fps == 2 and stream.rtsp_transport == "tcp"
    snapshot = parse_source_config({"type": "snapshot", "url": "http://10.0.0.9/snap.jpg", "interval_s": 2})
    assert isinstance(snapshot, SnapshotSourceConfig)
    assert isinstance(parse_source_config({"type": "file", "path": "a.mp4"}), FileSourceConfig)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"type": "stream", "url": "ftp://cam/x"}, "unsupported scheme 'ftp'"),
        ({"type": "stream", "url": "cam.local/stream"}, "unsupported scheme"),
        ({"type": "snapshot", "url": "rtsp://cam/x"}, "expected one of http://, https://"),
        (
            {"type": "stream", "url": "rtsp://cam/x", "colour": "red"},
            "colour: Extra inputs are not permitted",
        ),
        ({"type": "stream", "url": "rtsp://cam/x", "rtsp_transport": "sctp"}, "rtsp_transport"),
        ({"type": "file", "path": "a.mp4", "start_time": "2024-01-01T00:00:00"}, "start_time"),
        ({"type": "file", "path": "a.mp4", "target_fps": 0}, "target_fps"),
        (
            {"type": "stream", "url": "rtsp://h/x", "backoff_initial_s": 5, "backoff_max_s": 1},
            "backoff_max_s",
        ),
        ({"type": "stream", "url": "rtsp://h/x", "queue_size": 3}, "queue_size"),
        (
            {"type": "snapshot", "url": "http://h/s.jpg", "interval_s": 30, "stall_timeout_s": 10},
            "interval_s",
        ),
        ({"type": "images", "directory": ".", "exif_timezone": "Mars/Olympus"}, "Mars/Olympus"),
        ({"type": "webcam", "device": 0}, "type"),
    ],
)
def test_invalid_configs_are_config_errors_naming_the_field(data: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError, match=f"camera north-1: invalid source configuration: .*{expected}"):
        parse_source_config(data, where="camera north-1")


def test_models_forbid_extra_fields() -> None:
    with pytest.raises(ValidationError):
        StreamSourceConfig(url="rtsp://h/x", fps=3)  # type: ignore[call-arg]


def test_credentials_never_appear_in_messages_or_repr() -> None:
    url = "rtsp://admin:s3cret@10.1.2.3:554/Streaming/Channels/101"
    assert redact_url(url) == "rtsp://admin:***@10.1.2.3:554/Streaming/Channels/101"
    assert "s3cret" not in repr(StreamSourceConfig(url=url))
    with pytest.raises(ConfigError) as excinfo:
        parse_source_config({"type": "snapshot", "url": "rtsp://admin:s3cret@10.1.2.3/x"})
    assert "s3cret" not in str(excinfo.value)


def test_open_source_rejects_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="camera id"):
        open_source("  ", FileSourceConfig(path=tmp_path / "x.mp4"))
    with pytest.raises(ConfigError, match=r"camera 'c1'.*unsupported scheme 'gopher'"):
        open_source("c1", {"type": "stream", "url": "gopher://cam/x"})
    with pytest.raises(InvalidInputError, match=r"missing\.mp4"):
        open_source("c1", {"type": "file", "path": str(tmp_path / "missing.mp4")})
    with pytest.raises(InvalidInputError, match="expected a source configuration"):
        open_source("c1", 42)  # type: ignore[arg-type]


def test_sampler_keeps_frames_one_period_apart() -> None:
    sampler = FrameSampler(10.0)
    times = [i / 30 for i in range(31)]  # 30 fps for one second: float steps of 0.0333…
    kept = [t for t in times if sampler.keep(t)]
    assert kept == pytest.approx([i / 10 for i in range(11)])


def test_sampler_restarts_when_time_goes_back_and_keeps_all_without_target() -> None:
    sampler = FrameSampler(1.0)
    assert [sampler.keep(t) for t in (5.0, 5.5, 6.0, 0.2, 0.7, 1.2)] == [True, False, True, True, False, True]
    keep_all = FrameSampler(None)
    assert all(keep_all.keep(t) for t in (0.0, 0.0, 0.001))


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    delays = backoff_delays(0.5, 4.0, random.Random(3))
    values = [next(delays) for _ in range(8)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    assert all(cap / 2 <= v <= cap for v, cap in zip(values, caps, strict=True))
    assert len(set(values)) == len(values)  # jittered: no two equal


def test_ended_is_final_and_a_failed_source_stays_down() -> None:
    finished = SourceHealth(camera_id="file")
    finished.frame_read()
    finished.ended()
    finished.down("late error")
    finished.closed()
    assert finished.snapshot()["state"] == "ended"
    assert finished.last_error is None

    failed = SourceHealth(camera_id="broken-file")
    failed.frame_read()
    failed.down("read error after 3 frames")
    failed.ended()
    assert failed.snapshot()["state"] == "down"

    stopped = SourceHealth(camera_id="stopped")
    stopped.frame_read()
    stopped.closed()  # closed by the caller before its end: not finished
    stopped.ended()
    assert stopped.snapshot()["state"] == "closed"


def test_health_transitions_and_snapshot() -> None:
    health = SourceHealth(camera_id="c1")
    assert health.snapshot()["state"] == "starting"
    assert health.frame_read() is True  # starting → up
    assert health.frame_read() is False
    health.down("no frame for 3 s")
    health.reconnecting()
    snap = health.snapshot()
    assert (snap["state"], snap["last_error"], snap["reconnects"], snap["frames_read"]) == (
        "down",
        "no frame for 3 s",
        1,
        2,
    )
    assert health.frame_read() is True  # down → up
    health.closed()
    health.down("late error from the reader")  # a closed source stays closed
    assert health.snapshot()["state"] == "closed"
    assert set(snap) == {
        "camera_id",
        "state",
        "last_frame_at",
        "last_error",
        "last_error_at",
        "reconnects",
        "frames_read",
        "frames_dropped",
    }


def test_health_counters_are_thread_safe() -> None:
    health = SourceHealth(camera_id="c1")

    def work() -> None:
        for _ in range(2000):
            health.frame_read()
            health.dropped()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert health.frames_read == 8000 and health.frames_dropped == 8000
