"""YOLO txt labels: `<labels>/<stem>.txt` per `<images>/<stem>.<ext>`, lines `class cx cy w h` in 0–1."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import numpy as np
import yaml

from vigie.datasets.labels import LabelledImage, image_size, list_images, normalise_names, resolve_class_ids
from vigie.errors import InvalidInputError

# Float noise from exporters (0.99999999 written as 1.0000001) must not make a label invalid.
_NORMALISED_TOLERANCE = 1e-6
# labelImg writes its class list beside the labels; it is not a label file.
_NOT_LABEL_FILES = {"classes.txt"}


def read_yolo_names(data_yaml: Path) -> dict[int, str]:
    """Class names from an Ultralytics/Roboflow `data.yaml` (`names:` as a list or an {id: name} mapping)."""
    data_yaml = Path(data_yaml)
    try:
        content = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInputError(f"{data_yaml}: file not found") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{data_yaml}: not valid YAML ({exc})") from exc
    if not isinstance(content, dict) or "names" not in content:
        raise InvalidInputError(f"{data_yaml}: expected a mapping with a `names` key")
    return normalise_names(content["names"])


def _parse_line(
    line: str, label_file: Path, line_no: int, names: Mapping[int, str]
) -> tuple[int, float, float, float, float]:
    def fail(why: str) -> InvalidInputError:
        return InvalidInputError(f"{label_file}, line {line_no}: {why}; got {line.strip()!r}")

    fields = line.split()
    if len(fields) != 5:
        raise fail(f"expected 5 fields `class cx cy w h`, found {len(fields)}")
    try:
        raw_class = float(fields[0])
        values = [float(v) for v in fields[1:]]
    except ValueError as exc:
        raise fail("expected numbers") from exc
    if not raw_class.is_integer() or raw_class < 0:
        raise fail("the class must be a non-negative integer")
    class_id = int(raw_class)
    if names and class_id not in names:
        raise fail(f"class {class_id} is not among the class ids {sorted(names)}")
    if not all(math.isfinite(v) and -_NORMALISED_TOLERANCE <= v <= 1 + _NORMALISED_TOLERANCE for v in values):
        raise fail("cx cy w h must be normalised to 0–1")
    cx, cy, w, h = values
    if w <= 0 or h <= 0:
        raise fail("width and height must be positive")
    return class_id, cx, cy, w, h


def read_yolo_label_file(
    label_file: Path, width: int, height: int, names: Mapping[int, str]
) -> tuple[np.ndarray, np.ndarray]:
    """(boxes xyxy in pixels, class ids) of one label file; boxes are clipped to the image."""
    rows = []
    for line_no, line in enumerate(Path(label_file).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            rows.append(_parse_line(line, label_file, line_no, names))
    if not rows:
        return np.zeros((0, 4)), np.zeros(0, np.int64)
    arr = np.array(rows, dtype=np.float64)
    cx, cy, w, h = arr[:, 1] * width, arr[:, 2] * height, arr[:, 3] * width, arr[:, 4] * height
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    boxes = np.clip(boxes, 0, [width, height, width, height])
    return boxes, arr[:, 0].astype(np.int64)


def load_yolo(
    images_dir: Path,
    labels_dir: Path | None,
    names: Mapping[int, str] | Sequence[str],
    *,
    drop_classes: Iterable[int | str] = (),
) -> list[LabelledImage]:
    """Every image of `images_dir` (sorted by name) with its boxes from `labels_dir/<stem>.txt`.

    A missing label file (or `labels_dir=None`, for a folder of negatives) means no objects. A label file
    without an image is an error: it usually means the two folders do not belong together.
    `drop_classes` (ids or names) removes boxes of classes that mark something other than an object, such
    as fire8's whole-frame `default` box meaning "no fire", so those images count as negatives; the number
    removed is kept in `extra["dropped_boxes"]`.
    """
    names = normalise_names(names)
    dropped_ids = resolve_class_ids(names, drop_classes)
    images = list_images(images_dir)
    by_stem: dict[str, Path] = {}
    for image in images:
        if image.stem in by_stem:
            raise InvalidInputError(
                f"{images_dir}: {by_stem[image.stem].name} and {image.name} would share one label file"
            )
        by_stem[image.stem] = image
    if labels_dir is not None:
        labels_dir = Path(labels_dir)
        if not labels_dir.is_dir():
            raise InvalidInputError(f"labels folder {labels_dir}: not a directory")
        orphans = sorted(
            p.name
            for p in labels_dir.glob("*.txt")
            if p.stem not in by_stem and p.name not in _NOT_LABEL_FILES
        )
        if orphans:
            raise InvalidInputError(
                f"{labels_dir}: {len(orphans)} label files have no image in {images_dir}, e.g. {orphans[:3]}"
            )

    out: list[LabelledImage] = []
    for image in images:
        width, height = image_size(image)
        label_file = None if labels_dir is None else labels_dir / f"{image.stem}.txt"
        if label_file is not None and label_file.is_file():
            boxes, class_ids = read_yolo_label_file(label_file, width, height, names)
        else:
            boxes, class_ids = np.zeros((0, 4)), np.zeros(0, np.int64)
        keep = ~np.isin(class_ids, list(dropped_ids))
        out.append(
            LabelledImage(
                image_path=image,
                width=width,
                height=height,
                boxes=boxes[keep],
                class_ids=class_ids[keep],
                names=names,
                extra={"label_file": label_file, "dropped_boxes": int((~keep).sum())},
            )
        )
    return out
