"""`LabelledImage`: the ground truth of one image, whatever label format it was read from.

Boxes are xyxy in pixels of the image as a model sees it (EXIF orientation applied, as OpenCV and
Ultralytics load it). Per-box extras that some formats carry (VOC `difficult`, COCO `iscrowd`) live in
`extra` as arrays of length N; per-image facts (COCO `image_id`, boxes dropped on load) live there too,
as plain values. The keys each loader writes are listed in `datasets/README.md`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from vigie.errors import InvalidInputError
from vigie.vision.detections import Detections

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# EXIF orientations that rotate the picture by 90° (so width and height swap once it is displayed).
_TRANSPOSING_ORIENTATIONS = {5, 6, 7, 8}
_EXIF_ORIENTATION_TAG = 0x0112


@dataclass(slots=True)
class LabelledImage:
    image_path: Path
    width: int
    height: int
    boxes: np.ndarray
    class_ids: np.ndarray
    names: dict[int, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.image_path = Path(self.image_path)
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(
                f"LabelledImage {self.image_path}: expected a positive size, got {self.width}×{self.height}"
            )
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise InvalidInputError(
                f"LabelledImage {self.image_path}: boxes must be (N, 4), got {boxes.shape}"
            )
        if not np.isfinite(boxes).all():
            raise InvalidInputError(f"LabelledImage {self.image_path}: boxes must be finite numbers")
        if (boxes[:, 2] < boxes[:, 0]).any() or (boxes[:, 3] < boxes[:, 1]).any():
            raise InvalidInputError(
                f"LabelledImage {self.image_path}: each box must have x2 >= x1 and y2 >= y1"
            )
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if len(class_ids) != len(boxes):
            raise InvalidInputError(
                f"LabelledImage {self.image_path}: {len(boxes)} boxes but {len(class_ids)} class ids"
            )
        self.boxes = boxes
        self.class_ids = class_ids
        self.names = {int(k): str(v) for k, v in self.names.items()}

    def __len__(self) -> int:
        return len(self.boxes)

    def box_flag(self, key: str) -> np.ndarray:
        """Per-box boolean extra (e.g. `difficult`, `iscrowd`); all False when this image lacks it."""
        value = self.extra.get(key)
        if value is None:
            return np.zeros(len(self), dtype=bool)
        flags = np.asarray(value, dtype=bool).reshape(-1)
        if len(flags) != len(self):
            raise InvalidInputError(
                f"{self.image_path}: extra[{key!r}] has {len(flags)} flags for {len(self)} boxes"
            )
        return flags

    def select(self, mask: np.ndarray) -> LabelledImage:
        """Keep the boxes where `mask` is True; per-box arrays in `extra` are filtered alike."""
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != (len(self),):
            raise InvalidInputError(
                f"LabelledImage.select: expected {len(self)} booleans, got shape {mask.shape}"
            )
        extra = {
            k: (v[mask] if isinstance(v, np.ndarray) and v.shape[:1] == (len(self),) else v)
            for k, v in self.extra.items()
        }
        return dataclasses.replace(self, boxes=self.boxes[mask], class_ids=self.class_ids[mask], extra=extra)

    def to_detections(self) -> Detections:
        """The ground truth as `Detections` (confidence 1), e.g. to draw it or feed a tracker test."""
        return Detections(
            xyxy=self.boxes,
            confidence=np.ones(len(self), np.float32),
            class_id=self.class_ids,
            names=self.names,
            metadata={"image_path": str(self.image_path), "width": self.width, "height": self.height},
        )


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image as decoders display it, read from the header only (no pixel decoding)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
            orientation = img.getexif().get(_EXIF_ORIENTATION_TAG)
    except FileNotFoundError as exc:
        raise InvalidInputError(f"image {path}: file not found") from exc
    except (UnidentifiedImageError, OSError) as exc:
        raise InvalidInputError(f"image {path}: not a readable image ({exc})") from exc
    if orientation in _TRANSPOSING_ORIENTATIONS:
        return height, width
    return width, height


def list_images(images_dir: Path) -> list[Path]:
    """Image files directly inside `images_dir`, sorted by name."""
    images_dir = Path(images_dir)
    if not images_dir.is_dir():
        raise InvalidInputError(f"images folder {images_dir}: not a directory")
    return sorted(p for p in images_dir.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def normalise_names(names: Mapping[int, str] | Sequence[str]) -> dict[int, str]:
    """Class names as {id: name}, from a mapping or a list indexed by class id (YOLO's data.yaml style)."""
    if isinstance(names, Mapping):
        return {int(k): str(v) for k, v in names.items()}
    if isinstance(names, str):
        raise InvalidInputError(
            f"class names: expected a mapping or a list of names, got the string {names!r}"
        )
    return {i: str(n) for i, n in enumerate(names)}


def resolve_class_ids(names: Mapping[int, str], classes: Iterable[int | str]) -> set[int]:
    """Class ids named by id or by name (case-insensitive); unknown names are an error."""
    by_name = {v.casefold(): k for k, v in names.items()}
    ids: set[int] = set()
    for c in classes:
        if isinstance(c, str):
            if c.casefold() not in by_name:
                raise InvalidInputError(f"class {c!r}: not among the class names {sorted(names.values())}")
            ids.add(by_name[c.casefold()])
        else:
            ids.add(int(c))
    return ids


def remap_classes(
    images: Iterable[LabelledImage],
    mapping: Mapping[str, int],
    names: Mapping[int, str],
    *,
    drop_unmapped: bool = False,
) -> list[LabelledImage]:
    """Renumber ground-truth classes to a model's ids by class name (case-insensitive).

    `mapping` sends a ground-truth class name to the model's class id, e.g. fire8's `{"Fire": 1, "smoke": 0}`
    for a model whose names are `{0: "smoke", 1: "fire"}`; `names` are the model's names, given to the result.
    A class absent from `mapping` is an error unless `drop_unmapped`, which removes its boxes.
    """
    folded = {k.casefold(): int(v) for k, v in mapping.items()}
    out: list[LabelledImage] = []
    for image in images:
        gt_names = [image.names.get(int(c), f"class_{int(c)}").casefold() for c in image.class_ids]
        keep = np.array([n in folded for n in gt_names], dtype=bool)
        if not keep.all() and not drop_unmapped:
            missing = sorted({n for n, k in zip(gt_names, keep, strict=True) if not k})
            raise InvalidInputError(
                f"{image.image_path}: classes {missing} are not in the mapping {sorted(mapping)}"
            )
        kept = image.select(keep)
        new_ids = np.array([folded[n] for n, k in zip(gt_names, keep, strict=True) if k], dtype=np.int64)
        out.append(dataclasses.replace(kept, class_ids=new_ids, names=dict(names)))
    return out


def count_boxes(images: Iterable[LabelledImage]) -> dict[int, int]:
    """Number of ground-truth boxes per class id over a dataset."""
    counts: dict[int, int] = {}
    for image in images:
        ids, n = np.unique(image.class_ids, return_counts=True)
        for c, k in zip(ids.tolist(), n.tolist(), strict=True):
            counts[c] = counts.get(c, 0) + k
    return counts
