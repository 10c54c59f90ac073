"""YOLO / VOC / COCO loaders on small files written by the tests."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vigie.datasets.coco import load_coco
from vigie.datasets.labels import LabelledImage, count_boxes, image_size, remap_classes
from vigie.datasets.voc import load_voc
from vigie.datasets.yolo import load_yolo, read_yolo_names
from vigie.errors import InvalidInputError


def write_image(path: Path, width: int, height: int, orientation: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (width, height))
    if orientation is None:
        img.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = orientation
        img.save(path, exif=exif)
    return path


@pytest.fixture
def yolo_dir(tmp_path: Path) -> Path:
    write_image(tmp_path / "images" / "a.png", 200, 100)
    write_image(tmp_path / "images" / "b.jpg", 50, 40)
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n\n1 0.1 0.2 0.2 0.4\n2 0.5 0.5 1 1\n")
    return tmp_path


def test_yolo_boxes_are_converted_to_pixels(yolo_dir: Path):
    images = load_yolo(yolo_dir / "images", yolo_dir / "labels", ["smoke", "fire", "default"])
    assert [i.image_path.name for i in images] == ["a.png", "b.jpg"]
    a, b = images
    assert (a.width, a.height) == (200, 100)
    # cx 100 cy 50 w 100 h 50; cx 20 cy 20 w 40 h 40 (clipped at the top: y1 = 0); the whole frame.
    np.testing.assert_allclose(a.boxes, [[50, 25, 150, 75], [0, 0, 40, 40], [0, 0, 200, 100]])
    assert a.class_ids.tolist() == [0, 1, 2]
    assert a.names == {0: "smoke", 1: "fire", 2: "default"}
    assert len(b) == 0 and b.boxes.shape == (0, 4)  # no label file: a negative image
    assert (b.width, b.height) == (50, 40)


def test_yolo_drop_classes_by_name_or_id(yolo_dir: Path):
    names = {0: "smoke", 1: "fire", 2: "default"}
    by_name = load_yolo(yolo_dir / "images", yolo_dir / "labels", names, drop_classes=["Default"])
    by_id = load_yolo(yolo_dir / "images", yolo_dir / "labels", names, drop_classes=[2])
    for images in (by_name, by_id):
        assert images[0].class_ids.tolist() == [0, 1]
        assert images[0].extra["dropped_boxes"] == 1
    with pytest.raises(InvalidInputError, match="'nofire'"):
        load_yolo(yolo_dir / "images", yolo_dir / "labels", names, drop_classes=["nofire"])


def test_yolo_without_labels_folder_gives_negatives(yolo_dir: Path):
    images = load_yolo(yolo_dir / "images", None, {0: "smoke"})
    assert [len(i) for i in images] == [0, 0]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ("0 0.5 0.5 0.5", "expected 5 fields"),
        ("0 0.5 0.5 0.5 0.5 0.1", "expected 5 fields"),
        ("smoke 0.5 0.5 0.5 0.5", "expected numbers"),
        ("0 0.5 0.5 nan 0.5", "normalised"),
        ("0.5 0.5 0.5 0.5 0.5", "non-negative integer"),
        ("7 0.5 0.5 0.5 0.5", "class 7 is not among"),
        ("0 1.5 0.5 0.5 0.5", "normalised"),
        ("0 0.5 -0.2 0.5 0.5", "normalised"),
        ("0 0.5 0.5 0 0.5", "positive"),
    ],
)
def test_yolo_malformed_line_names_file_and_line(yolo_dir: Path, line: str, why: str):
    label = yolo_dir / "labels" / "b.txt"
    label.write_text(f"0 0.5 0.5 0.5 0.5\n{line}\n")
    with pytest.raises(InvalidInputError, match=re.escape(why)) as err:
        load_yolo(yolo_dir / "images", yolo_dir / "labels", ["smoke", "fire", "default"])
    assert f"{label}, line 2" in str(err.value)


def test_yolo_label_without_image_is_an_error(yolo_dir: Path):
    (yolo_dir / "labels" / "classes.txt").write_text("smoke\n")  # labelImg's class list is not a label
    load_yolo(yolo_dir / "images", yolo_dir / "labels", ["smoke", "fire", "default"])
    (yolo_dir / "labels" / "lost.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    with pytest.raises(InvalidInputError, match=r"lost\.txt"):
        load_yolo(yolo_dir / "images", yolo_dir / "labels", ["smoke", "fire", "default"])


def test_yolo_missing_folder_is_an_error(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="not a directory"):
        load_yolo(tmp_path / "nothing", None, {0: "smoke"})


def test_read_yolo_names_from_list_or_mapping(tmp_path: Path):
    (tmp_path / "list.yaml").write_text("names:\n- Fire\n- default\n- smoke\nnc: 3\n")
    (tmp_path / "map.yaml").write_text("names:\n  0: smoke\n  1: fire\n")
    (tmp_path / "bad.yaml").write_text("nc: 3\n")
    assert read_yolo_names(tmp_path / "list.yaml") == {0: "Fire", 1: "default", 2: "smoke"}
    assert read_yolo_names(tmp_path / "map.yaml") == {0: "smoke", 1: "fire"}
    with pytest.raises(InvalidInputError, match="names"):
        read_yolo_names(tmp_path / "bad.yaml")


def test_image_size_follows_exif_rotation(tmp_path: Path):
    assert image_size(write_image(tmp_path / "upright.jpg", 60, 30, orientation=1)) == (60, 30)
    assert image_size(write_image(tmp_path / "rotated.jpg", 60, 30, orientation=6)) == (30, 60)
    (tmp_path / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(InvalidInputError, match=r"broken\.jpg"):
        image_size(tmp_path / "broken.jpg")


VOC_XML = """<annotation>
  <filename>{filename}</filename>
  <size><width>{width}</width><height>{height}</height><depth>3</depth></size>
  {objects}
</annotation>"""
VOC_OBJECT = (
    "<object><name>{name}</name><difficult>{difficult}</difficult>"
    "<bndbox><xmin>{box[0]}</xmin><ymin>{box[1]}</ymin><xmax>{box[2]}</xmax><ymax>{box[3]}</ymax></bndbox>"
    "</object>"
)


def write_voc(
    path: Path, filename: str, width: int, height: int, objects: list[tuple[str, list, int]]
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join(VOC_OBJECT.format(name=n, box=b, difficult=d) for n, b, d in objects)
    path.write_text(VOC_XML.format(filename=filename, width=width, height=height, objects=body))


def test_voc_boxes_names_and_flags(tmp_path: Path):
    write_image(tmp_path / "img" / "car 1.jpg", 80, 60)
    write_image(tmp_path / "img" / "car2.png", 30, 20)
    write_voc(
        tmp_path / "ann" / "car 1.xml",
        "car 1.jpg",
        80,
        60,
        [("plate", [10, 20, 30, 25.5], 0), ("car", [0, 0, 80, 60], 1)],
    )
    # <filename> without extension and a 0×0 size: the image and its header are found anyway.
    write_voc(tmp_path / "ann" / "car2.xml", "car2", 0, 0, [])
    images = load_voc(tmp_path / "ann", tmp_path / "img")
    first, second = images
    assert first.names == {0: "car", 1: "plate"}  # sorted names when none are given
    np.testing.assert_allclose(first.boxes, [[10, 20, 30, 25.5], [0, 0, 80, 60]])
    assert first.class_ids.tolist() == [1, 0]
    assert first.extra["difficult"].tolist() == [False, True]
    assert first.box_flag("difficult").tolist() == [False, True]
    assert (second.image_path.name, second.width, second.height, len(second)) == ("car2.png", 30, 20, 0)

    fixed = load_voc(tmp_path / "ann", tmp_path / "img", names={5: "plate", 7: "car"})
    assert fixed[0].class_ids.tolist() == [5, 7]
    with pytest.raises(InvalidInputError, match="car"):
        load_voc(tmp_path / "ann", tmp_path / "img", names={0: "plate"})


@pytest.mark.parametrize(
    ("xml", "why"),
    [
        ("<annotation><filename>a.jpg</filename><object><name>x</name></object></annotation>", "no <bndbox>"),
        (
            "<annotation><filename>a.jpg</filename><object><name>x</name><bndbox><xmin>5</xmin>"
            "<ymin>0</ymin><xmax>1</xmax><ymax>3</ymax></bndbox></object></annotation>",
            "xmax >= xmin",
        ),
        ("<annotation><filename>gone.jpg</filename></annotation>", "gone.jpg"),
        ("<annotation><filename>a.jpg</filename>", "not valid XML"),
        ("<root/>", "expected an <annotation> root"),
    ],
)
def test_voc_bad_files_are_named(tmp_path: Path, xml: str, why: str):
    write_image(tmp_path / "img" / "a.jpg", 10, 10)
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "a.xml").write_text(xml)
    with pytest.raises(InvalidInputError, match=re.escape(why)) as err:
        load_voc(tmp_path / "ann", tmp_path / "img")
    assert "a.xml" in str(err.value)


def write_coco(path: Path, images: list, annotations: list, categories: list) -> Path:
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    return path


def test_coco_boxes_and_images_without_annotations(tmp_path: Path):
    write_image(tmp_path / "1.jpg", 64, 48)
    write_image(tmp_path / "2.jpg", 64, 48)
    js = write_coco(
        tmp_path / "gt.json",
        [
            {"id": 7, "file_name": "1.jpg", "width": 64, "height": 48},
            {"id": 9, "file_name": "2.jpg", "width": 64, "height": 48},
        ],
        [
            {"id": 1, "image_id": 7, "category_id": 3, "bbox": [10.5, 5, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 7, "category_id": 8, "bbox": [0, 0, 4, 4], "iscrowd": 1},
        ],
        [{"id": 3, "name": "car"}, {"id": 8, "name": "truck"}],
    )
    first, second = load_coco(js, tmp_path)
    np.testing.assert_allclose(first.boxes, [[10.5, 5, 30.5, 15], [0, 0, 4, 4]])
    assert first.class_ids.tolist() == [3, 8]
    assert first.names == {3: "car", 8: "truck"}
    assert first.extra["image_id"] == 7 and first.extra["annotation_id"].tolist() == [1, 2]
    assert first.box_flag("iscrowd").tolist() == [False, True]
    assert second.image_path == tmp_path / "2.jpg" and len(second) == 0


@pytest.mark.parametrize(
    ("annotation", "why"),
    [
        ({"id": 1, "image_id": 99, "category_id": 3, "bbox": [0, 0, 1, 1]}, "unknown image id 99"),
        ({"id": 1, "image_id": 1, "category_id": 4, "bbox": [0, 0, 1, 1]}, "unknown category id 4"),
        ({"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, -1, 1]}, "bbox must be"),
        ({"id": 1, "image_id": 1, "category_id": 3}, "lacks"),
    ],
)
def test_coco_bad_annotations(tmp_path: Path, annotation: dict, why: str):
    write_image(tmp_path / "1.jpg", 8, 8)
    js = write_coco(
        tmp_path / "gt.json",
        [{"id": 1, "file_name": "1.jpg", "width": 8, "height": 8}],
        [annotation],
        [{"id": 3, "name": "car"}],
    )
    with pytest.raises(InvalidInputError, match=re.escape(why)):
        load_coco(js, tmp_path)


def test_coco_missing_image_file(tmp_path: Path):
    js = write_coco(tmp_path / "gt.json", [{"id": 1, "file_name": "x.jpg", "width": 8, "height": 8}], [], [])
    with pytest.raises(InvalidInputError, match=r"x\.jpg"):
        load_coco(js, tmp_path)
    assert len(load_coco(js, tmp_path, check_files=False)) == 1


def test_labelled_image_validation_and_helpers():
    with pytest.raises(InvalidInputError, match="x2 >= x1"):
        LabelledImage(Path("a.jpg"), 10, 10, [[5, 0, 1, 1]], [0])
    with pytest.raises(InvalidInputError, match="class ids"):
        LabelledImage(Path("a.jpg"), 10, 10, [[0, 0, 1, 1]], [0, 1])
    image = LabelledImage(
        Path("a.jpg"),
        10,
        10,
        [[0, 0, 1, 1], [2, 2, 3, 3]],
        [0, 1],
        {0: "Fire", 1: "smoke"},
        {"difficult": np.array([True, False]), "image_id": 4},
    )
    kept = image.select(np.array([False, True]))
    assert kept.class_ids.tolist() == [1] and kept.extra["difficult"].tolist() == [False]
    assert kept.extra["image_id"] == 4
    d = image.to_detections()
    np.testing.assert_allclose(d.xyxy, image.boxes)
    assert d.class_id.tolist() == [0, 1] and d.names == image.names

    # fire8's names to the fire model's ({0: smoke, 1: fire}), by name and case-insensitively.
    (remapped,) = remap_classes([image], {"fire": 1, "SMOKE": 0}, {0: "smoke", 1: "fire"})
    assert remapped.class_ids.tolist() == [1, 0] and remapped.names == {0: "smoke", 1: "fire"}
    with pytest.raises(InvalidInputError, match="smoke"):
        remap_classes([image], {"fire": 1}, {1: "fire"})
    (only_fire,) = remap_classes([image], {"fire": 1}, {1: "fire"}, drop_unmapped=True)
    assert only_fire.class_ids.tolist() == [1] and only_fire.extra["difficult"].tolist() == [True]
    assert count_boxes([image, image]) == {0: 2, 1: 2}
