"""Vigie road-user classes, the COCO labels they come from, and a track's class by vote over its life.

COCO has no heavy-goods class: its `truck` covers lorries but also pickups and large vans (MODELS.md).
Rule used here: a track whose vote is `truck` is `heavy` only when, at the crossing, its box's larger side
is at least `heavy_min_lanes` lane widths (the line's length divided by its number of lanes); otherwise it
is a `car` (pickup, van). Measured at the line, every vehicle is at the same distance from the camera, so
the ratio does not depend on perspective. `bus` stays `bus`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from vigie.errors import ConfigError

VIGIE_CLASSES: tuple[str, ...] = ("car", "heavy", "bus", "motorcycle", "bicycle", "pedestrian")

# COCO label → provisional Vigie label; `truck` is settled by size (see the module docstring).
COCO_TO_VIGIE: dict[str, str] = {
    "car": "car",
    "truck": "truck",
    "bus": "bus",
    "motorcycle": "motorcycle",
    "bicycle": "bicycle",
    "person": "pedestrian",
}
# When votes tie, the more specific/rarer label wins (a heavy vehicle briefly seen as a car is still heavy).
_TIE_ORDER = ("bus", "truck", "motorcycle", "bicycle", "car", "pedestrian")


def check_classes(classes: Iterable[str], *, where: str) -> list[str]:
    """The list if every name is a Vigie class; a ConfigError naming the unknown ones otherwise."""
    names = list(classes)
    unknown = [c for c in names if c not in VIGIE_CLASSES]
    if unknown:
        raise ConfigError(
            f"{where}: unknown class(es) {unknown}; expected some of {', '.join(VIGIE_CLASSES)}"
        )
    return names


def model_class_ids(names: Mapping[int, str]) -> dict[int, str]:
    """Model class id → provisional Vigie label, for the model's classes that are road users."""
    ids = {i: COCO_TO_VIGIE[n] for i, n in names.items() if n in COCO_TO_VIGIE}
    if not ids:
        raise ConfigError(
            f"detector classes {sorted(set(names.values()))[:10]}…: none is a road user "
            f"({', '.join(COCO_TO_VIGIE)}); configure a COCO model"
        )
    return ids


@dataclass(slots=True)
class ClassVote:
    """Confidence-weighted votes of one track's labels; bounded (one float per label)."""

    scores: dict[str, float] = field(default_factory=dict)

    def add(self, label: str, confidence: float) -> None:
        self.scores[label] = self.scores.get(label, 0.0) + float(confidence)

    def winner(self) -> str | None:
        if not self.scores:
            return None
        return max(self.scores, key=lambda k: (self.scores[k], -_TIE_ORDER.index(k)))


def settle_class(
    label: str, *, box_wh: tuple[float, float], lane_width_px: float, heavy_min_lanes: float
) -> str:
    """Final Vigie class of a track voted `label`, given its box (w, h) at the crossing."""
    if label != "truck":
        return label
    return "heavy" if max(box_wh) >= heavy_min_lanes * lane_width_px else "car"
