"""Loaders on the real shared datasets (skipped only when the folder is absent).

Totals come from the datasets' README; box positions are cross-checked against a second source where the
dataset has one (plates' labels.csv), and every box must lie inside its image.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from vigie.datasets.coco import load_coco
from vigie.datasets.labels import LabelledImage, count_boxes, image_size
from vigie.datasets.metrics import mean_average_precision, precision_recall
from vigie.datasets.voc import load_voc
from vigie.datasets.yolo import load_yolo, read_yolo_names


def assert_boxes_inside(images: list[LabelledImage]) -> None:
    for image in images:
        b = image.boxes
        assert (b[:, :2] >= 0).all() and (b[:, 2] <= image.width).all() and (b[:, 3] <= image.height).all()
        assert ((b[:, 2] - b[:, 0]) > 0).all() and ((b[:, 3] - b[:, 1]) > 0).all(), image.image_path


def test_hpwren_smoke(shared_datasets: Path):
    root = shared_datasets / "smoke" / "hpwren"
    images = load_yolo(root / "images", root / "labels", {0: "smoke"})
    assert len(images) == 23
    assert all(len(i) >= 1 for i in images)  # every frame has smoke
    assert set(count_boxes(images)) == {0}
    assert {(i.width, i.height) for i in images} <= {(640, 480), (2560, 1440)}
    assert_boxes_inside(images)
    negatives = load_yolo(root / "negatives", None, {0: "smoke"})
    assert len(negatives) == 5 and all(len(i) == 0 for i in negatives)


def test_fire8_default_boxes_become_negatives(shared_datasets: Path):
    root = shared_datasets / "smoke" / "fire8"
    names = read_yolo_names(root / "data.yaml")
    assert names == {0: "Fire", 1: "default", 2: "smoke"}
    for split, n_images in (("train", 877), ("valid", 47)):
        kept = load_yolo(root / split / "images", root / split / "labels", names)
        dropped = load_yolo(root / split / "images", root / split / "labels", names, drop_classes=["default"])
        assert len(kept) == len(dropped) == n_images
        assert {(i.width, i.height) for i in kept} == {(608, 608)}
        assert_boxes_inside(kept)
        before, after = count_boxes(kept), count_boxes(dropped)
        assert 1 not in after
        assert sum(i.extra["dropped_boxes"] for i in dropped) == before.get(1, 0)
        assert {c: n for c, n in before.items() if c != 1} == after
        for full, neg in zip(kept, dropped, strict=True):
            if neg.extra["dropped_boxes"]:
                # `default` marks a (nearly) whole frame without fire: nothing else is labelled there.
                assert len(neg) == 0
                covered = full.boxes[:, 2:] - full.boxes[:, :2]
                assert (covered.prod(axis=1) > 0.75 * 608 * 608).all()
    # The train split holds `default` frames (the point of the option).
    train = load_yolo(root / "train" / "images", root / "train" / "labels", names, drop_classes=[1])
    assert sum(i.extra["dropped_boxes"] for i in train) > 0


def test_french_plates_voc_matches_its_csv(shared_datasets: Path):
    root = shared_datasets / "plates" / "fr-train"
    images = load_voc(root / "Annotations", root / "Images")
    assert len(images) == 189
    assert images[0].names == {0: "licence plate"}
    assert count_boxes(images) == {0: 189}
    assert_boxes_inside(images)
    with (root / "labels.csv").open(encoding="utf-8") as f:
        rows = {r["image"]: r for r in csv.DictReader(f)}
    assert len(rows) == 189
    for image in images:
        row = rows[image.image_path.name]
        expected = [float(row[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
        np.testing.assert_allclose(image.boxes[0], expected)
    sample = images[::40]  # the XML size agrees with the image header
    assert all((i.width, i.height) == image_size(i.image_path) for i in sample)


def test_ngsim_us101_coco_totals(shared_datasets: Path):
    root = shared_datasets / "traffic" / "ngsim-us101"
    images = load_coco(root / "annotations" / "GT.json", root / "images")
    assert len(images) == 177
    assert sum(len(i) for i in images) == 6292
    assert count_boxes(images) == {3: 6292}
    assert images[0].names == {3: "car"}
    assert {(i.width, i.height) for i in images} == {(640, 480)}
    assert all(i.image_path.is_file() for i in images)
    assert len({i.extra["image_id"] for i in images}) == 177

    # The ground truth scored against itself is perfect; with every other box missing, recall halves.
    perfect = [i.to_detections() for i in images]
    assert mean_average_precision(perfect, images).mean == pytest.approx(1.0)
    halved = [d[np.arange(len(d)) % 2 == 0] for d in perfect]
    pr = precision_recall(halved, images)
    kept = sum(len(d) for d in halved)
    assert (pr.overall.tp, pr.overall.fp, pr.overall.fn) == (kept, 0, 6292 - kept)
