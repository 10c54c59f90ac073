"""Real models on real images (slow). Uses the real weights cache, fetching missing models once."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie.observability import REGISTRY
from vigie.vision.detections import box_iou
from vigie.vision.detector import DarknetDetectorConfig, UltralyticsDetectorConfig, build_detector
from vigie.vision.frame import Frame
from vigie.vision.ultralytics_compat import ultralytics_assets_dir
from vigie.weights import manager

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def real_weights() -> None:
    """CI runs `vigie weights fetch --all` first; fetch here only what is missing (from PyPI)."""
    for name in ("coco-yolov4-tiny", "plate-yolov8n", "fire-smoke-yolov8"):
        manager.fetch(name)


@pytest.fixture(scope="module")
def bus() -> np.ndarray:
    path = ultralytics_assets_dir() / "bus.jpg"
    image = cv2.imread(str(path))
    assert image is not None, path
    return image


@pytest.fixture(scope="module")
def darknet(real_weights):
    return build_detector(DarknetDetectorConfig(model="coco-yolov4-tiny", conf=0.25))


@pytest.fixture(scope="module")
def plates(real_weights):
    return build_detector(UltralyticsDetectorConfig(model="plate-yolov8n", batch=4))


def test_darknet_finds_the_bus_and_the_persons(darknet, bus: np.ndarray) -> None:
    frame = Frame(image=bus, camera_id="cam-1", captured_at=datetime(2024, 5, 1, 12, tzinfo=UTC), sequence=7)
    labels = {"model": "coco-yolov4-tiny", "device": "cpu"}
    before = REGISTRY.get_sample_value("vigie_inference_seconds_count", labels) or 0.0
    dets = darknet.detect(frame)
    names = list(dets.class_name)
    assert names.count("bus") == 1
    assert names.count("person") >= 3
    bus_box = dets.xyxy[names.index("bus")]
    assert bus_box[2] - bus_box[0] > 0.8 * bus.shape[1]  # the bus spans the picture's width
    assert (dets.xyxy[:, [0, 2]] <= bus.shape[1]).all() and (dets.xyxy[:, [1, 3]] <= bus.shape[0]).all()
    assert dets.metadata["model"] == "coco-yolov4-tiny" and dets.metadata["model_version"] == "0.1.2"
    assert dets.metadata["device"] == "cpu" and dets.metadata["image_size"] == bus.shape[:2]
    assert (dets.metadata["camera_id"], dets.metadata["sequence"]) == ("cam-1", 7)
    assert REGISTRY.get_sample_value("vigie_inference_seconds_count", labels) == before + 1


def test_darknet_batch_equals_single_calls(darknet, bus: np.ndarray) -> None:
    images = [bus, np.ascontiguousarray(bus[:, ::-1]), cv2.resize(bus, (405, 540))]
    batched = build_detector(DarknetDetectorConfig(model="coco-yolov4-tiny", batch=3)).detect_batch(images)
    for image, together in zip(images, batched, strict=True):
        alone = darknet.detect(image)
        assert len(alone) == len(together)
        np.testing.assert_allclose(alone.xyxy, together.xyxy, atol=0.5)
        np.testing.assert_array_equal(alone.class_id, together.class_id)


def test_darknet_class_filter(bus: np.ndarray, real_weights) -> None:
    only_bus = build_detector(DarknetDetectorConfig(model="coco-yolov4-tiny", classes=[5])).detect(bus)
    assert len(only_bus) == 1 and set(only_bus.class_name) == {"bus"}


def _voc_box(xml: Path) -> np.ndarray:
    box = ET.parse(xml).getroot().find("object/bndbox")
    return np.array([[float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]])


def test_plate_model_finds_french_plates(plates, shared_datasets: Path) -> None:
    folder = shared_datasets / "plates" / "fr-train"
    xmls = sorted((folder / "Annotations").glob("*.xml"))[:4]
    images = [cv2.imread(str(folder / "Images" / f"{x.stem}.jpg")) for x in xmls]
    batched = plates.detect_batch(images)
    for xml, image, together in zip(xmls, images, batched, strict=True):
        alone = plates.detect(image)
        assert len(alone) >= 1, xml.stem
        assert box_iou(alone.xyxy[:1], _voc_box(xml))[0, 0] > 0.5, xml.stem
        np.testing.assert_allclose(alone.xyxy, together.xyxy, atol=1.0)
        assert together.names == {0: "License_Plate"}


def test_fire_model_loads_and_sees_smoke(shared_datasets: Path, real_weights) -> None:
    fire = build_detector(UltralyticsDetectorConfig(model="fire-smoke-yolov8", conf=0.3))
    images = shared_datasets / "smoke" / "hpwren" / "images"
    path = sorted(images.glob("*.jpg"))[0]
    label = shared_datasets / "smoke" / "hpwren" / "labels" / f"{path.stem}.txt"
    image = cv2.imread(str(path))
    h, w = image.shape[:2]
    rows = np.loadtxt(label, ndmin=2)
    cx, cy, bw, bh = rows[:, 1] * w, rows[:, 2] * h, rows[:, 3] * w, rows[:, 4] * h
    truth = np.column_stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
    smoke = fire.detect(image).only_classes([0])
    assert len(smoke) >= 1
    assert box_iou(smoke.xyxy, truth).max() > 0.1


def test_darknet_objectness_threshold_follows_conf(bus: np.ndarray, real_weights) -> None:
    from vigie.vision.backends.darknet import with_objectness_threshold

    cfg = "[net]\nthresh = 0.9\n[yolo]\nmask = 0,1\nthresh = .2\n[convolutional]\n[region]\nclasses=2\n"
    patched = with_objectness_threshold(cfg, 0.05).splitlines()
    assert patched.count("thresh = 0.05") == 2 and "thresh = .2" not in patched
    assert "thresh = 0.9" in patched  # only the output layers' threshold changes
    # OpenCV's default objectness threshold (0.2) used to cap `conf`: below it, lower-scored boxes appear.
    low = build_detector(DarknetDetectorConfig(model="coco-yolov4-tiny", conf=0.05)).detect(bus)
    assert (low.confidence < 0.2).any() and (low.confidence >= 0.05).all()
