"""COCO detection json: `images`, `annotations` with `bbox` = [x, y, w, h] in pixels, `categories`.

Class ids are the json's category ids, unchanged (NGSIM's only category is `3: car`); use
`remap_classes` to line them up with a model's ids. Images without annotations are kept, with no boxes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vigie.datasets.labels import LabelledImage
from vigie.errors import InvalidInputError


def _require(record: Any, keys: tuple[str, ...], json_path: Path, where: str) -> None:
    if not isinstance(record, dict):
        raise InvalidInputError(f"{json_path}: {where} must be an object, got {type(record).__name__}")
    missing = [k for k in keys if k not in record]
    if missing:
        raise InvalidInputError(f"{json_path}: {where} lacks {missing}")


def load_coco(json_path: Path, images_dir: Path, *, check_files: bool = True) -> list[LabelledImage]:
    """Every image of the json, in the json's order, with its boxes as xyxy pixels.

    `check_files` makes a listed image missing from `images_dir` an error (an evaluation would silently
    score nothing on it otherwise). Per-box `extra`: `annotation_id`, `iscrowd`; per image: `image_id`.
    """
    json_path, images_dir = Path(json_path), Path(images_dir)
    try:
        content = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InvalidInputError(f"COCO json {json_path}: file not found") from exc
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"COCO json {json_path}: not valid JSON ({exc})") from exc
    _require(content, ("images", "annotations", "categories"), json_path, "the top level")

    names: dict[int, str] = {}
    for cat in content["categories"]:
        _require(cat, ("id", "name"), json_path, "a category")
        names[int(cat["id"])] = str(cat["name"])

    images: dict[int, dict[str, Any]] = {}
    for img in content["images"]:
        _require(img, ("id", "file_name", "width", "height"), json_path, "an image")
        if int(img["id"]) in images:
            raise InvalidInputError(f"{json_path}: image id {img['id']} is listed twice")
        images[int(img["id"])] = img

    per_image: dict[int, list[dict[str, Any]]] = {image_id: [] for image_id in images}
    for ann in content["annotations"]:
        where = f"annotation {ann.get('id', '?')}" if isinstance(ann, dict) else "an annotation"
        _require(ann, ("image_id", "category_id", "bbox"), json_path, where)
        if int(ann["image_id"]) not in images:
            raise InvalidInputError(f"{json_path}: {where} refers to unknown image id {ann['image_id']}")
        if int(ann["category_id"]) not in names:
            raise InvalidInputError(
                f"{json_path}: {where} refers to unknown category id {ann['category_id']}"
            )
        bbox = ann["bbox"]
        if (
            not isinstance(bbox, list)
            or len(bbox) != 4
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in bbox)
            or bbox[2] < 0
            or bbox[3] < 0
        ):
            raise InvalidInputError(
                f"{json_path}: {where} bbox must be [x, y, w, h] with w, h >= 0, got {bbox}"
            )
        per_image[int(ann["image_id"])].append(ann)

    out: list[LabelledImage] = []
    for image_id, img in images.items():
        path = images_dir / img["file_name"]
        if check_files and not path.is_file():
            raise InvalidInputError(
                f"{json_path}: image {img['file_name']!r} (id {image_id}) is not in {images_dir}"
            )
        anns = per_image[image_id]
        xywh = np.array([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        out.append(
            LabelledImage(
                image_path=path,
                width=int(img["width"]),
                height=int(img["height"]),
                boxes=np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
                class_ids=np.array([a["category_id"] for a in anns], dtype=np.int64),
                names=names,
                extra={
                    "image_id": image_id,
                    "annotation_id": np.array([a.get("id", -1) for a in anns], dtype=np.int64),
                    "iscrowd": np.array([bool(a.get("iscrowd", 0)) for a in anns], dtype=bool),
                },
            )
        )
    return out
