"""Privacy by design: no image is written unless `debug_frames_dir` is set; then plates and heads are blurred
and nothing else of the frame is altered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie.pipelines.base import CameraContext
from vigie.pipelines.traffic.config import LineConfig, TrafficCameraConfig, TrafficPipelineConfig
from vigie.pipelines.traffic.pipeline import TrafficPipeline
from vigie.pipelines.traffic.privacy import blur_boxes, grown_box
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

COCO = {0: "person", 2: "car"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
CTX = CameraContext(camera_id=1, slug="quai", site_id=1)


class FixedDetector(Detector):
    """The same boxes on every frame; no model."""

    def __init__(self, rows: list[tuple[int, list[float]]]) -> None:
        self.name, self.version, self.device, self.half = "fixed", "1", "cpu", False
        self.names, self.input_size, self.batch = COCO, 320, 1
        self.rows = rows

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        return [
            Detections(
                xyxy=np.array([r[1] for r in self.rows], dtype=np.float64),
                class_id=np.array([r[0] for r in self.rows]),
                confidence=np.full(len(self.rows), 0.9),
                names=COCO,
            )
            for _ in images
        ]


def high_frequency_energy(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """Variance of the Laplacian of the grey region: edges and fine texture (plate characters, a face)."""
    x0, y0, x1, y1 = box
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def images_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def run_frames(pipeline: TrafficPipeline, image: np.ndarray, n: int) -> list:
    writes = []
    for seq in range(n):
        writes += pipeline.process(CTX, Frame(image, "quai", T0 + timedelta(seconds=seq / 10), sequence=seq))
    return writes + list(pipeline.close())


def test_blur_boxes_alters_only_the_grown_boxes() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    box = np.array([40.0, 30.0, 80.0, 60.0])
    out = blur_boxes(image, box[None])
    x0, y0, x1, y1 = grown_box(box, image.shape)
    changed = np.any(out != image, axis=2)
    assert changed[y0:y1, x0:x1].mean() > 0.9  # noise inside is smoothed almost everywhere
    changed[y0:y1, x0:x1] = False
    assert not changed.any()  # and nothing outside moved
    assert high_frequency_energy(out, (x0, y0, x1, y1)) < 0.1 * high_frequency_energy(image, (x0, y0, x1, y1))


def test_without_debug_option_no_image_is_written_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.chdir(tmp_path)  # relative paths, if any were used, would land here
    monkeypatch.setenv("VIGIE_DATA_DIR", str(data_dir))
    written: list[str] = []
    for name in ("imwrite", "imencode"):
        original = getattr(cv2, name)
        monkeypatch.setattr(
            cv2, name, lambda *a, _o=original, _n=name, **k: written.append(_n) or _o(*a, **k)
        )
    config = TrafficPipelineConfig(
        classes=["car", "pedestrian"],
        cameras={"quai": TrafficCameraConfig(lines=[LineConfig(name="l", points=((0, 100), (320, 100)))])},
    )
    assert config.debug_frames_dir is None  # the default: statistics only
    image = np.full((240, 320, 3), 127, np.uint8)
    detector = FixedDetector([(0, [100, 20, 140, 120]), (2, [200, 150, 260, 190])])
    pipeline = TrafficPipeline(config, detector, timezone="Europe/Paris")
    writes = run_frames(pipeline, image, 30)
    assert writes  # the run did produce statistics
    assert pipeline._anonymiser is None  # no image path was even prepared
    assert written == []
    assert images_under(tmp_path) == []
    assert [p for p in data_dir.rglob("*")] == []


@pytest.mark.slow
def test_debug_frames_blur_plate_and_heads_and_nothing_else(shared_datasets: Path, tmp_path: Path) -> None:
    from vigie.datasets.voc import read_voc_file

    root = shared_datasets / "plates/fr-train"
    labelled, _ = read_voc_file(root / "Annotations/6402 VH 25.xml", root / "Images")
    original = cv2.imread(str(labelled.image_path))
    assert original is not None and original.shape[:2] == (labelled.height, labelled.width)
    plate = tuple(int(v) for v in labelled.boxes[0])  # the VOC box of the plate
    h, w = original.shape[:2]
    person = [int(w * 0.62), int(h * 0.05), int(w * 0.78), int(h * 0.55)]  # a (scripted) person detection
    head = (person[0], person[1], person[2], person[1] + (person[3] - person[1]) // 3)
    line_y = h - 20
    config = TrafficPipelineConfig(
        classes=["car", "pedestrian"],
        debug_frames_dir=tmp_path / "debug",
        debug_every_s=60,
        cameras={
            "quai": TrafficCameraConfig(lines=[LineConfig(name="l", points=((0, line_y), (w, line_y)))])
        },
    )
    pipeline = TrafficPipeline(config, FixedDetector([(0, person)]), timezone="Europe/Paris")
    run_frames(pipeline, original, 3)  # 0.2 s: one debug frame per 60 s

    (saved_path,) = images_under(tmp_path)  # exactly one image, in the debug folder, lossless
    assert saved_path.parent == tmp_path / "debug" / "quai" and saved_path.suffix == ".png"
    saved = cv2.imread(str(saved_path))
    assert saved.shape == original.shape

    for region in (plate, head):
        before, after = high_frequency_energy(original, region), high_frequency_energy(saved, region)
        assert before > 50, region  # the region had detail to hide
        assert after < 0.15 * before, (region, before, after)

    # Outside what the anonymiser blurred (and the drawn counting line) every pixel is unchanged.
    regions = pipeline._anonymiser.regions(original, FixedDetector([(0, person)]).detect(original))
    untouched = np.ones(original.shape[:2], dtype=bool)
    for box in regions:
        x0, y0, x1, y1 = grown_box(box, original.shape)
        untouched[y0:y1, x0:x1] = False
    untouched[line_y - 3 : line_y + 4, :] = False
    x0, y0, x1, y1 = plate
    assert not untouched[y0:y1, x0:x1].any()  # the plate was among the blurred regions
    assert np.array_equal(saved[untouched], original[untouched])
    assert untouched.mean() > 0.5  # the check covers most of the frame, not an empty remainder
