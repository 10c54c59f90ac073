"""Pascal VOC XML annotations: one `<annotation>` file per image, boxes as pixel `xmin ymin xmax ymax`.

Coordinates are taken as written (labelImg and CVAT write the drawn rectangle's pixel edges), without
the 1-based shift some VOC readers apply: the difference is one pixel and the shared data matches its
own CSV exactly this way.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from vigie.datasets.labels import IMAGE_SUFFIXES, LabelledImage, image_size
from vigie.errors import InvalidInputError


def _text(element: ET.Element, path: str, xml_file: Path, where: str) -> str:
    value = element.findtext(path)
    if value is None or not value.strip():
        raise InvalidInputError(f"{xml_file}: {where} has no <{path}>")
    return value.strip()


def _number(element: ET.Element, path: str, xml_file: Path, where: str) -> float:
    value = _text(element, path, xml_file, where)
    try:
        return float(value)
    except ValueError as exc:
        raise InvalidInputError(f"{xml_file}: {where} <{path}> must be a number, got {value!r}") from exc


def _flag(element: ET.Element, tag: str) -> bool:
    value = (element.findtext(tag) or "0").strip().lower()
    return value in {"1", "true", "yes"}


def _image_path(root: ET.Element, xml_file: Path, images_dir: Path) -> Path:
    """The image named by <filename>; some tools omit its extension, so the usual ones are tried."""
    filename = root.findtext("filename")
    stem_source = Path(filename.strip()).name if filename and filename.strip() else f"{xml_file.stem}"
    candidate = images_dir / stem_source
    if candidate.is_file():
        return candidate
    stem = Path(stem_source).stem if Path(stem_source).suffix.lower() in IMAGE_SUFFIXES else stem_source
    for suffix in IMAGE_SUFFIXES:
        for variant in (suffix, suffix.upper()):
            if (images_dir / f"{stem}{variant}").is_file():
                return images_dir / f"{stem}{variant}"
    raise InvalidInputError(f"{xml_file}: its image {stem_source!r} is not in {images_dir}")


def read_voc_file(xml_file: Path, images_dir: Path) -> tuple[LabelledImage, list[str]]:
    """One annotation file as a `LabelledImage` with provisional class ids, plus its class names in order."""
    xml_file = Path(xml_file)
    try:
        root = ET.parse(xml_file).getroot()
    except ET.ParseError as exc:
        raise InvalidInputError(f"{xml_file}: not valid XML ({exc})") from exc
    if root.tag != "annotation":
        raise InvalidInputError(f"{xml_file}: expected an <annotation> root, got <{root.tag}>")
    image_path = _image_path(root, xml_file, images_dir)
    size = root.find("size")
    width = int(_number(size, "width", xml_file, "<size>")) if size is not None else 0
    height = int(_number(size, "height", xml_file, "<size>")) if size is not None else 0
    if width <= 0 or height <= 0:
        # Some exporters write 0×0; the image header is the truth then.
        width, height = image_size(image_path)

    labels: list[str] = []
    boxes: list[list[float]] = []
    difficult: list[bool] = []
    truncated: list[bool] = []
    for index, obj in enumerate(root.findall("object"), start=1):
        where = f"<object> #{index}"
        labels.append(_text(obj, "name", xml_file, where))
        bndbox = obj.find("bndbox")
        if bndbox is None:
            raise InvalidInputError(f"{xml_file}: {where} has no <bndbox>")
        box = [_number(bndbox, tag, xml_file, where) for tag in ("xmin", "ymin", "xmax", "ymax")]
        if box[2] < box[0] or box[3] < box[1]:
            raise InvalidInputError(f"{xml_file}: {where} must have xmax >= xmin and ymax >= ymin, got {box}")
        boxes.append(box)
        difficult.append(_flag(obj, "difficult"))
        truncated.append(_flag(obj, "truncated"))
    image = LabelledImage(
        image_path=image_path,
        width=width,
        height=height,
        boxes=np.array(boxes, dtype=np.float64).reshape(-1, 4),
        class_ids=np.zeros(len(boxes), np.int64),
        extra={
            "annotation_file": xml_file,
            "difficult": np.array(difficult, dtype=bool),
            "truncated": np.array(truncated, dtype=bool),
        },
    )
    return image, labels


def load_voc(
    annotations_dir: Path, images_dir: Path, names: Mapping[int, str] | None = None
) -> list[LabelledImage]:
    """Every `*.xml` of `annotations_dir` (sorted by name), class ids from `names` or assigned by name.

    Without `names`, ids are given in sorted order of the class names found (0, 1, ...), so the same
    folder always yields the same ids; with `names`, a class not listed is an error.
    """
    annotations_dir, images_dir = Path(annotations_dir), Path(images_dir)
    if not annotations_dir.is_dir():
        raise InvalidInputError(f"annotations folder {annotations_dir}: not a directory")
    if not images_dir.is_dir():
        raise InvalidInputError(f"images folder {images_dir}: not a directory")
    parsed = [read_voc_file(f, images_dir) for f in sorted(annotations_dir.glob("*.xml"))]
    if names is None:
        found = sorted({label for _, labels in parsed for label in labels})
        names = dict(enumerate(found))
    ids_by_name = {v: int(k) for k, v in names.items()}
    out: list[LabelledImage] = []
    for image, labels in parsed:
        unknown = sorted(set(labels) - set(ids_by_name))
        if unknown:
            raise InvalidInputError(
                f"{image.extra['annotation_file']}: classes {unknown} are not among {sorted(ids_by_name)}"
            )
        image.class_ids = np.array([ids_by_name[label] for label in labels], dtype=np.int64)
        image.names = dict(names)
        out.append(image)
    return out
