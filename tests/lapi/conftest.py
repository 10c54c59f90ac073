"""A real video of cars passing, built with ffmpeg from `plates/fr-train` photos (never committed).

Each photo becomes a 1-s passage at 10 fps: letterboxed to 1280×720 and slowly zoomed towards its plate
(ffmpeg's zoompan), so that every frame differs, as a car approaching the camera; half a second of empty
road (black) separates two cars. The clip lives under pytest's tmp_path and is built once per session.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from vigie.datasets.voc import load_voc

# Photos with one plate each, read right by the reader on the still photo (checked again by the tests),
# in an order where consecutive plates are at different places of the frame. W-373-KE is a W garage plate.
CLIP_PHOTOS = ("CF-058-NS", "W-373-KE", "FC-768-JZ", "BH-109-XW")
WIDTH, HEIGHT, FPS = 1280, 720, 10
FRAMES_PER_CAR = 10
GAP_FRAMES = 5
MAX_ZOOM = 1.15


@dataclass(frozen=True)
class PlateClip:
    path: Path
    photos: tuple[Path, ...]  # in passage order
    plates: tuple[str, ...]  # compact plate text of each photo (its file name)
    frames_per_car: int = FRAMES_PER_CAR
    gap_frames: int = GAP_FRAMES
    fps: int = FPS


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def _segment(photo: Path, plate_center: tuple[float, float], out: Path) -> None:
    """One car: letterboxed at twice the output size (zoompan then only downscales), zoomed on the plate."""
    cx, cy = plate_center  # relative to the letterboxed frame
    big_w, big_h = 2 * WIDTH, 2 * HEIGHT
    step = (MAX_ZOOM - 1.0) / (FRAMES_PER_CAR - 1)
    vf = (
        f"scale={big_w}:{big_h}:force_original_aspect_ratio=decrease,"
        f"pad={big_w}:{big_h}:(ow-iw)/2:(oh-ih)/2,"
        f"zoompan=z='1+{step:.5f}*on':x='(iw-iw/zoom)*{cx:.4f}':y='(ih-ih/zoom)*{cy:.4f}'"
        f":d={FRAMES_PER_CAR}:s={WIDTH}x{HEIGHT}:fps={FPS}"
    )
    _ffmpeg("-i", str(photo), "-vf", vf, "-frames:v", str(FRAMES_PER_CAR), "-pix_fmt", "yuv420p", str(out))


def _letterboxed_center(box, image_w: int, image_h: int) -> tuple[float, float]:
    scale = min(WIDTH / image_w, HEIGHT / image_h)
    pad_x, pad_y = (WIDTH - image_w * scale) / 2, (HEIGHT - image_h * scale) / 2
    x = pad_x + scale * (box[0] + box[2]) / 2
    y = pad_y + scale * (box[1] + box[3]) / 2
    return x / WIDTH, y / HEIGHT


@pytest.fixture(scope="session")
def plate_clip(shared_datasets: Path, tmp_path_factory: pytest.TempPathFactory) -> PlateClip:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed (Debian package ffmpeg)")
    root = shared_datasets / "plates/fr-train"
    items = {Path(item.image_path).stem: item for item in load_voc(root / "Annotations", root / "Images")}
    work = tmp_path_factory.mktemp("plate-clip")
    segments: list[Path] = []
    gap = work / "gap.mp4"
    _ffmpeg(
        "-f", "lavfi", "-i", f"color=black:s={WIDTH}x{HEIGHT}:r={FPS}",
        "-frames:v", str(GAP_FRAMES), "-pix_fmt", "yuv420p", str(gap),
    )  # fmt: skip
    for k, name in enumerate(CLIP_PHOTOS):
        item = items[name]
        h, w = item.height, item.width
        segment = work / f"car{k}.mp4"
        _segment(Path(item.image_path), _letterboxed_center(item.boxes[0], w, h), segment)
        segments += [segment, gap] if k < len(CLIP_PHOTOS) - 1 else [segment]
    listing = work / "segments.txt"
    listing.write_text("".join(f"file '{s}'\n" for s in segments))
    clip = work / "clip.mp4"
    _ffmpeg(
        "-f", "concat", "-safe", "0", "-i", str(listing),
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-r", str(FPS), "-pix_fmt", "yuv420p",
        str(clip),
    )  # fmt: skip
    photos = tuple(Path(items[name].image_path) for name in CLIP_PHOTOS)
    plates = tuple(name.replace("-", "") for name in CLIP_PHOTOS)
    return PlateClip(clip, photos, plates)
