"""Video-file sources: counts, sampling, timestamps, damaged files (real video and PyAV-made clips)."""

from __future__ import annotations

import itertools
import os
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vigie.errors import InvalidInputError, SourceError
from vigie.observability import REGISTRY
from vigie.vision.frame import Frame
from vigie.vision.sources import FileSourceConfig, open_source

HIGHWAY = Path("traffic") / "highway-a.avi"


def make_clip(
    path: Path,
    *,
    frames: int,
    fps: int,
    creation_time: str | None = None,
    garbage_packets: frozenset[int] = frozenset(),
) -> Path:
    """An H.264 clip whose frame i has gray level 4*i in its top-left 16×16 block (so frames can be told
    apart) and noise elsewhere (so that each frame takes real space in the file, as camera footage does)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), mode="w") as container:
        if creation_time:
            container.metadata["creation_time"] = creation_time
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, fps)
        for i in range(frames):
            image = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
            image[:16, :16] = (4 * i) % 256
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(_damaged(packet, rng) if packet.pts in garbage_packets else packet)
        for packet in stream.encode():
            container.mux(_damaged(packet, rng) if packet.pts in garbage_packets else packet)
    return path


def _damaged(packet: av.Packet, rng: np.random.Generator) -> av.Packet:
    """The same packet (timestamps, stream) carrying random bytes: a well-formed file with a corrupt frame."""
    garbage = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
    garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
    garbage.stream = packet.stream
    return garbage


def declared(path: Path) -> tuple[int, float]:
    """(frame count, frame rate) as the container declares them, for expectations not written by hand."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.frames, float(stream.average_rate)


def read_all(config: FileSourceConfig, camera_id: str = "cam-file") -> list[Frame]:
    with open_source(camera_id, config) as source:
        return list(source.frames())


def metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.mark.slow
def test_real_video_every_frame_with_utc_monotonic_timestamps(shared_datasets: Path) -> None:
    path = shared_datasets / HIGHWAY
    count, fps = declared(path)
    start = datetime(2024, 5, 17, 6, 30, tzinfo=UTC)
    frames = read_all(FileSourceConfig(path=path, start_time=start))
    assert len(frames) == count
    assert [f.sequence for f in frames] == list(range(count))
    assert frames[0].captured_at == start
    assert all(f.captured_at.utcoffset() == timedelta(0) for f in frames)
    steps = [(b.captured_at - a.captured_at).total_seconds() for a, b in itertools.pairwise(frames)]
    assert min(steps) > 0
    assert steps == pytest.approx([1 / fps] * len(steps), abs=1e-3)
    assert frames[-1].source_time_s == pytest.approx((count - 1) / fps, abs=1e-3)
    assert frames[0].image.shape == (240, 320, 3) and frames[0].image.dtype == np.uint8


@pytest.mark.slow
@pytest.mark.parametrize("target_fps", [5.0, 4.0])
def test_real_video_sampled_at_target_fps(shared_datasets: Path, target_fps: float) -> None:
    path = shared_datasets / HIGHWAY
    count, fps = declared(path)
    before = metric("vigie_frames_dropped_total", camera=f"cam-{target_fps}", reason="sampling")
    frames = read_all(FileSourceConfig(path=path, target_fps=target_fps), camera_id=f"cam-{target_fps}")
    # Kept frames are the first frame, then each first frame at least 1/target_fps after the last kept.
    stride = int(np.ceil(fps / target_fps - 1e-6))
    assert len(frames) == len(range(0, count, stride))
    gaps = np.diff([f.source_time_s for f in frames])
    assert gaps.min() >= 0.99 / target_fps
    assert gaps.max() < 1 / target_fps + 1 / fps
    dropped = metric("vigie_frames_dropped_total", camera=f"cam-{target_fps}", reason="sampling") - before
    assert dropped == count - len(frames)


def test_timestamps_default_to_container_creation_time(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=12, fps=4, creation_time="2023-08-01T10:15:00.000000Z")
    frames = read_all(FileSourceConfig(path=clip))
    assert frames[0].captured_at == datetime(2023, 8, 1, 10, 15, tzinfo=UTC)
    assert frames[-1].captured_at == datetime(2023, 8, 1, 10, 15, tzinfo=UTC) + timedelta(seconds=11 / 4)
    # the pixel values prove the frames come in order, none skipped
    assert [int(f.image[8, 8, 1]) for f in frames] == pytest.approx([4 * i for i in range(12)], abs=3)


def test_timestamps_default_to_file_mtime_without_creation_time(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mkv", frames=5, fps=5)
    mtime = datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)
    os.utime(clip, (mtime.timestamp(), mtime.timestamp()))
    frames = read_all(FileSourceConfig(path=clip))
    assert frames[0].captured_at == mtime
    assert frames[4].captured_at == mtime + timedelta(seconds=0.8)


def test_loop_restarts_with_increasing_timestamps(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=6, fps=3)
    with open_source("cam-loop", FileSourceConfig(path=clip, loop=True)) as source:
        frames = []
        for frame in source.frames():
            frames.append(frame)
            if len(frames) == 15:
                break
    assert source.health.state == "closed"
    times = [f.source_time_s for f in frames]
    assert times == pytest.approx([i / 3 for i in range(15)], abs=1e-6)
    assert [int(f.image[8, 8, 1]) for f in frames[6:12]] == pytest.approx([4 * i for i in range(6)], abs=3)


@pytest.mark.slow
def test_truncated_copy_yields_frames_then_names_the_file(shared_datasets: Path, tmp_path: Path) -> None:
    data = (shared_datasets / HIGHWAY).read_bytes()
    truncated = tmp_path / "highway-cut.avi"
    truncated.write_bytes(data[: len(data) * 2 // 5])
    count, _ = declared(shared_datasets / HIGHWAY)
    source = open_source("cam-cut", FileSourceConfig(path=truncated))
    got: list[Frame] = []
    with pytest.raises(SourceError, match=r"highway-cut\.avi.*truncated") as excinfo:
        for frame in source.frames():
            got.append(frame)
    assert 0 < len(got) < count
    assert source.health.state == "down"
    assert str(excinfo.value) == source.health.last_error


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_corrupt_packets_in_the_middle_are_skipped_and_counted(tmp_path: Path, suffix: str) -> None:
    bad = frozenset({20, 21, 22})
    clip = make_clip(tmp_path / f"damaged{suffix}", frames=60, fps=10, garbage_packets=bad)
    camera = f"cam-damaged{suffix}"
    before = metric("vigie_frames_dropped_total", camera=camera, reason="corrupt")
    source = open_source(camera, FileSourceConfig(path=clip))
    frames = list(source.frames())  # no exception: the damaged stretch is not fatal
    assert [f.source_time_s for f in frames] == pytest.approx([i / 10 for i in range(60) if i not in bad])
    assert [f.sequence for f in frames] == list(range(60 - len(bad)))
    assert source.health.frames_dropped == len(bad)
    assert metric("vigie_frames_dropped_total", camera=camera, reason="corrupt") - before == len(bad)
    assert f"damaged{suffix}" in (source.health.last_error or "")
    assert source.health.state == "ended"  # read to its end: a skipped packet does not make it down


def test_file_read_to_its_end_is_ended_not_up(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=5, fps=5)
    source = open_source("cam-end", FileSourceConfig(path=clip))
    states = []
    for _frame in source.frames():
        states.append(source.health.state)
    assert states == ["up"] * 5
    assert source.health.state == "ended"
    source.close()  # the caller's close does not hide that the file finished
    source.health.down("late error")
    assert source.health.snapshot()["state"] == "ended"


def test_file_without_any_decodable_frame_stays_down(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "all-bad.mp4", frames=5, fps=5, garbage_packets=frozenset(range(5)))
    source = open_source("cam-all-bad", FileSourceConfig(path=clip))
    with pytest.raises(SourceError, match=r"all-bad\.mp4"):
        list(source.frames())
    assert source.health.state == "down"
    source.close()
    assert source.health.state == "down"


def test_garbage_file_is_a_source_error_naming_it(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-video.mp4"
    garbage.write_bytes(np.random.default_rng(1).integers(0, 256, 20000, dtype=np.uint8).tobytes())
    with pytest.raises(SourceError, match=r"not-a-video\.mp4"):
        open_source("cam", FileSourceConfig(path=garbage))


def test_file_without_video_stream_is_a_source_error(tmp_path: Path) -> None:
    audio_only = tmp_path / "sound.m4a"
    with av.open(str(audio_only), mode="w") as container:
        stream = container.add_stream("aac", rate=8000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 1024), dtype=np.float32), format="fltp", layout="mono"
        )
        frame.sample_rate = 8000
        for packet in [*stream.encode(frame), *stream.encode()]:
            container.mux(packet)
    with pytest.raises(SourceError, match=r"sound\.m4a.*no video stream"):
        open_source("cam", FileSourceConfig(path=audio_only))


def test_missing_file_is_invalid_input_naming_it(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"nowhere\.mp4"):
        open_source("cam", FileSourceConfig(path=tmp_path / "nowhere.mp4"))


def test_close_from_the_loop_releases_the_file(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", frames=20, fps=10)
    source = open_source("cam-close", FileSourceConfig(path=clip))
    seen = 0
    for _frame in source.frames():
        seen += 1
        if seen == 3:
            source.close()
    assert seen == 3
    assert source.health.state == "closed"
    assert source.health.snapshot()["frames_read"] == 3
