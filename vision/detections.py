"""`Detections`: the one columnar detection type passed between every stage.

Columns are numpy arrays of equal length N; per-detection extras live in `data` (also length-N arrays),
per-frame facts (camera, capture time, model name and version, image size) in `metadata`.
Indexing with a boolean mask, an integer array or a slice returns a new `Detections`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from vigie.errors import InvalidInputError

Anchor = Literal["center", "bottom_center", "top_center"]


def _column(name: str, value: Any, n: int, dtype: type, shape_tail: tuple[int, ...] = ()) -> np.ndarray:
    arr = np.asarray(value, dtype=dtype)
    if arr.shape != (n, *shape_tail):
        raise InvalidInputError(f"Detections.{name}: expected shape {(n, *shape_tail)}, got {arr.shape}")
    return arr


@dataclass(slots=True)
class Detections:
    xyxy: np.ndarray
    confidence: np.ndarray | None = None
    class_id: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    names: Mapping[int, str] = field(default_factory=dict)
    data: dict[str, np.ndarray] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32)
        if xyxy.size == 0:
            xyxy = xyxy.reshape(0, 4)
        if xyxy.ndim != 2 or xyxy.shape[1] != 4:
            raise InvalidInputError(f"Detections.xyxy: expected shape (N, 4), got {xyxy.shape}")
        if not np.isfinite(xyxy).all():
            raise InvalidInputError("Detections.xyxy: boxes must be finite numbers")
        if (xyxy[:, 2] < xyxy[:, 0]).any() or (xyxy[:, 3] < xyxy[:, 1]).any():
            raise InvalidInputError("Detections.xyxy: each box must have x2 >= x1 and y2 >= y1")
        n = len(xyxy)
        self.xyxy = xyxy
        self.confidence = _column(
            "confidence", np.ones(n) if self.confidence is None else self.confidence, n, np.float32
        )
        self.class_id = _column(
            "class_id", np.zeros(n) if self.class_id is None else self.class_id, n, np.int64
        )
        if self.tracker_id is not None:
            self.tracker_id = _column("tracker_id", self.tracker_id, n, np.int64)
        for key, value in list(self.data.items()):
            arr = np.asarray(value)
            if len(arr) != n:
                raise InvalidInputError(f"Detections.data[{key!r}]: expected length {n}, got {len(arr)}")
            self.data[key] = arr
        self.names = dict(self.names)

    @classmethod
    def empty(cls, names: Mapping[int, str] | None = None, **metadata: Any) -> Detections:
        return cls(xyxy=np.zeros((0, 4), np.float32), names=names or {}, metadata=dict(metadata))

    @classmethod
    def merge(cls, parts: Iterable[Detections]) -> Detections:
        """Concatenate detections of the same frame (e.g. tiles); metadata and names of the first part win."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        keys = set(parts[0].data)
        if any(set(p.data) != keys for p in parts):
            raise InvalidInputError("Detections.merge: all parts must carry the same data keys")
        tracked = [p.tracker_id is not None for p in parts]
        if any(tracked) and not all(tracked):
            raise InvalidInputError("Detections.merge: either every part or none carries tracker ids")
        names: dict[int, str] = {}
        for p in parts:
            names.update(p.names)
        return cls(
            xyxy=np.concatenate([p.xyxy for p in parts]),
            confidence=np.concatenate([p.confidence for p in parts]),
            class_id=np.concatenate([p.class_id for p in parts]),
            tracker_id=np.concatenate([p.tracker_id for p in parts]) if all(tracked) else None,
            names=names,
            data={k: np.concatenate([p.data[k] for p in parts]) for k in keys},
            metadata=dict(parts[0].metadata),
        )

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: int | slice | np.ndarray | list[int] | list[bool]) -> Detections:
        if isinstance(index, int):
            index = [index]
        idx = np.asarray(index) if not isinstance(index, slice) else index
        if isinstance(idx, np.ndarray) and idx.dtype == bool and idx.shape != (len(self),):
            raise InvalidInputError(f"Detections mask: expected {len(self)} booleans, got shape {idx.shape}")
        return Detections(
            xyxy=self.xyxy[idx],
            confidence=self.confidence[idx],
            class_id=self.class_id[idx],
            tracker_id=None if self.tracker_id is None else self.tracker_id[idx],
            names=self.names,
            data={k: v[idx] for k, v in self.data.items()},
            metadata=dict(self.metadata),
        )

    @property
    def class_name(self) -> np.ndarray:
        """Name of each detection's class (`"class_<id>"` when the model gave no name)."""
        return np.array([self.names.get(int(c), f"class_{int(c)}") for c in self.class_id], dtype=object)

    @property
    def area(self) -> np.ndarray:
        return (self.xyxy[:, 2] - self.xyxy[:, 0]) * (self.xyxy[:, 3] - self.xyxy[:, 1])

    def anchors(self, anchor: Anchor = "center") -> np.ndarray:
        """Reference point of each box, (N, 2) pixels."""
        x = (self.xyxy[:, 0] + self.xyxy[:, 2]) / 2
        if anchor == "center":
            y = (self.xyxy[:, 1] + self.xyxy[:, 3]) / 2
        elif anchor == "bottom_center":
            y = self.xyxy[:, 3]
        elif anchor == "top_center":
            y = self.xyxy[:, 1]
        else:
            raise InvalidInputError(
                f"unknown anchor {anchor!r}: expected center, bottom_center or top_center"
            )
        return np.stack([x, y], axis=1)

    def only_classes(self, class_ids: Iterable[int]) -> Detections:
        return self[np.isin(self.class_id, list(class_ids))]

    def above(self, confidence: float) -> Detections:
        return self[self.confidence >= confidence]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a) × len(b)) of two xyxy box arrays."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(br - tl, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
