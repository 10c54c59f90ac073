"""Image-directory sources: name order, EXIF or mtime timestamps, unreadable images, sampling."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from vigie.errors import InvalidInputError, SourceError
from vigie.vision.sources import ImagesSourceConfig, open_source

_EXIF_IFD, _DATETIME_ORIGINAL, _OFFSET_TIME_ORIGINAL = 0x8769, 36867, 36881


def write_image(
    path: Path, level: int, *, exif_time: str | None = None, exif_offset: str | None = None
) -> Path:
    exif = Image.Exif()
    exif[0x0110] = "test camera"  # Model: Pillow writes no PNG eXIf chunk for an empty first IFD
    if exif_time:
        exif.get_ifd(_EXIF_IFD)[_DATETIME_ORIGINAL] = exif_time
    if exif_offset:
        exif.get_ifd(_EXIF_IFD)[_OFFSET_TIME_ORIGINAL] = exif_offset
    Image.new("RGB", (40, 30), (level, level, level)).save(path, exif=exif)
    return path


def set_mtime(path: Path, when: datetime) -> None:
    os.utime(path, (when.timestamp(), when.timestamp()))


def test_images_in_name_order_with_exif_then_mtime_timestamps(tmp_path: Path) -> None:
    write_image(tmp_path / "b.jpg", 100, exif_time="2024:07:14 09:30:05", exif_offset="+02:00")
    write_image(tmp_path / "a.jpg", 50, exif_time="2024:07:14 09:30:00")  # no offset: exif_timezone applies
    no_exif = write_image(tmp_path / "c.png", 150)
    set_mtime(no_exif, datetime(2024, 7, 14, 7, 31, tzinfo=UTC))
    (tmp_path / "notes.txt").write_text("not an image")

    config = ImagesSourceConfig(directory=tmp_path, exif_timezone="Europe/Paris")
    with open_source("cam-img", config) as source:
        frames = list(source.frames())

    assert [Path(str(f.metadata["path"])).name for f in frames] == ["a.jpg", "b.jpg", "c.png"]
    assert [f.captured_at for f in frames] == [
        datetime(2024, 7, 14, 7, 30, 0, tzinfo=UTC),  # 09:30 in Paris (CEST) is 07:30 UTC
        datetime(2024, 7, 14, 7, 30, 5, tzinfo=UTC),
        datetime(2024, 7, 14, 7, 31, 0, tzinfo=UTC),
    ]
    assert [f.source_time_s for f in frames] == [0.0, 5.0, 60.0]
    assert [int(f.image[15, 20, 0]) for f in frames] == pytest.approx([50, 100, 150], abs=3)
    assert [f.sequence for f in frames] == [0, 1, 2]
    assert source.health.snapshot()["frames_read"] == 3
    assert source.health.state == "ended"  # the last image was delivered: finished, not up


def test_unreadable_image_is_skipped_and_counted(tmp_path: Path) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i, name in enumerate(["1.jpg", "2.jpg", "3.jpg"]):
        set_mtime(write_image(tmp_path / name, 40 * i), base + timedelta(seconds=i))
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8 this is not a JPEG")
    with open_source("cam-img-bad", ImagesSourceConfig(directory=tmp_path)) as source:
        frames = list(source.frames())
        health = source.health.snapshot()
    assert [Path(str(f.metadata["path"])).name for f in frames] == ["1.jpg", "3.jpg"]
    assert health["frames_dropped"] == 1
    assert "2.jpg" in str(health["last_error"])
    assert health["state"] == "ended"  # one bad image among good ones is not a failed folder


def test_folder_without_any_readable_image_is_down_naming_it(tmp_path: Path) -> None:
    for name in ("1.jpg", "2.png"):
        (tmp_path / name).write_bytes(b"\xff\xd8 this is not an image")
    with open_source("cam-img-dead", ImagesSourceConfig(directory=tmp_path)) as source:
        assert list(source.frames()) == []
    health = source.health.snapshot()
    assert health["state"] == "down"
    assert str(tmp_path) in str(health["last_error"]) and "none of its images" in str(health["last_error"])


def test_folder_closed_before_its_end_is_closed_not_ended(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / f"{i}.jpg", 30 * i)
    with open_source("cam-img-stop", ImagesSourceConfig(directory=tmp_path)) as source:
        for _frame in source.frames():
            break
    assert source.health.state == "closed"


def test_images_sampled_by_capture_time(tmp_path: Path) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(10):  # one image every 0.5 s
        set_mtime(write_image(tmp_path / f"{i:02d}.jpg", 10 * i), base + timedelta(seconds=0.5 * i))
    with open_source("cam-img-fps", ImagesSourceConfig(directory=tmp_path, target_fps=1.0)) as source:
        frames = list(source.frames())
    assert [f.source_time_s for f in frames] == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_missing_directory_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no-such-dir"):
        open_source("cam", ImagesSourceConfig(directory=tmp_path / "no-such-dir"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match="empty"):
        open_source("cam", ImagesSourceConfig(directory=tmp_path / "empty"))


def test_png_exif_and_damaged_exif_fall_back_cleanly(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", 10, exif_time="2023:12:31 23:59:59", exif_offset="-03:00")
    damaged = write_image(tmp_path / "b.jpg", 20, exif_time="2024:01:01 03:00:30")
    data = bytearray(damaged.read_bytes())
    start = data.index(b"Exif\x00\x00") + 6
    data[start : start + 8] = b"\x00" * 8  # TIFF header destroyed: EXIF unreadable, pixels intact
    damaged.write_bytes(bytes(data))
    mtime = datetime(2024, 1, 1, 3, 1, tzinfo=UTC)
    set_mtime(damaged, mtime)
    with open_source("cam-img-exif", ImagesSourceConfig(directory=tmp_path)) as source:
        frames = list(source.frames())
    assert [f.captured_at for f in frames] == [datetime(2024, 1, 1, 2, 59, 59, tzinfo=UTC), mtime]
    assert source.health.frames_dropped == 0
