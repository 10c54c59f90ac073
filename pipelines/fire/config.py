"""Configuration of the fire pipeline: the `fire:` section of a YAML site file.

fire:
  detector: {type: ultralytics, model: fire-smoke-yolov8, imgsz: 640, conf: 0.15}
  tiling: {grid: 1x1, overlap: 0.15, full_frame: true}
  masks: {tour-nord: [[[0, 900], [400, 900], [400, 1080], [0, 1080]]]}
  confirmation: {hits: 3, window_s: 300, iou: 0.1, max_centre_distance: 0.08}
  danger_level: null          # null = read the day's level set by the watch room (default 3)
  localisation: {max_range_m: 30000, fusion_window_s: 300}
  webhooks: [https://sdis.example/hooks/vigie]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie.vision.detector import UltralyticsDetectorConfig

Polygon = list[tuple[float, float]]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TilingConfig(_Section):
    grid: Literal["1x1", "2x1", "2x2", "3x2"] = Field(
        "1x1",
        title="Tile grid",
        description="Columns x rows. Tiles keep more of a distant plume's pixels than the 640 px full frame, "
        "at 3-7 passes per frame; with fire-smoke-yolov8 they found no plume the full frame missed "
        "(docs/BENCHMARKS.md), so the default is 1x1. Worth measuring for a model trained on small plumes.",
    )
    overlap: float = Field(
        0.15,
        ge=0.0,
        lt=0.5,
        title="Tile overlap",
        description="Fraction of a tile shared with its neighbour.",
    )
    full_frame: bool = Field(
        True,
        title="Also the full frame",
        description="Run the whole frame too (large plumes cut by tile edges are found whole).",
    )
    nms_iou: float = Field(
        0.5, gt=0.0, le=1.0, title="Merge IoU", description="Boxes of one class overlapping more are merged."
    )

    @property
    def columns_rows(self) -> tuple[int, int]:
        cols, rows = self.grid.split("x")
        return int(cols), int(rows)


class QualityConfig(_Section):
    black_max_mean: float = Field(
        12.0, ge=0, le=255, title="Black frame", description="Mean grey level below which a frame is black."
    )
    uniform_max_std: float = Field(
        2.0,
        ge=0,
        le=128,
        title="Uniform frame",
        description="Grey standard deviation below which a frame is uniform (lost signal, decoder fill).",
    )
    frozen_max_diff: float = Field(
        0.02,
        ge=0,
        le=255,
        title="Frozen frame",
        description="Mean absolute grey difference to the camera's previous frame at or below which it is "
        "frozen (a repeated image; real frames 40 ms apart still differ by ~0.15).",
    )


class DangerRule(_Section):
    hits: int = Field(ge=1, le=50, title="Hits", description="Frames with the detection needed to confirm.")
    min_confidence: float = Field(
        ge=0, le=1, title="Minimum confidence", description="Weaker boxes do not count."
    )


def _default_danger_rules() -> dict[int, DangerRule]:
    # Low danger: demand more evidence (fewer false alarms); extreme danger: alert earlier.
    return {
        1: DangerRule(hits=4, min_confidence=0.40),
        2: DangerRule(hits=3, min_confidence=0.35),
        3: DangerRule(hits=3, min_confidence=0.25),
        4: DangerRule(hits=2, min_confidence=0.25),
        5: DangerRule(hits=2, min_confidence=0.20),
    }


class ConfirmationConfig(_Section):
    window_s: float = Field(
        300.0, gt=0, le=86_400, title="Window (s)", description="Hits must fall within this time window."
    )
    iou: float = Field(
        0.1,
        ge=0,
        le=1,
        title="Association IoU",
        description="A box continues a track if it overlaps this much.",
    )
    max_centre_distance: float = Field(
        0.08,
        ge=0,
        le=1,
        title="Association distance",
        description="...or if box centres are closer than this fraction of the image width.",
    )
    danger_rules: dict[int, DangerRule] = Field(
        default_factory=_default_danger_rules,
        title="Rules per danger level",
        description="Hits and minimum confidence for each fire-danger level 1 (low) to 5 (extreme).",
    )
    max_tracks_per_camera: int = Field(
        50, ge=1, le=10_000, title="Track cap", description="Bounds memory on a noisy camera."
    )

    @field_validator("danger_rules")
    @classmethod
    def _all_levels(cls, value: dict[int, DangerRule]) -> dict[int, DangerRule]:
        missing = sorted(set(range(1, 6)) - set(value))
        extra = sorted(set(value) - set(range(1, 6)))
        if missing or extra:
            raise ValueError(f"danger_rules: expected levels 1-5 exactly; missing {missing}, unknown {extra}")
        return value


class LocalisationConfig(_Section):
    max_range_m: float = Field(
        30_000.0, gt=0, le=200_000, title="Max range (m)", description="Length of bearing lines and cones."
    )
    fusion_window_s: float = Field(
        300.0,
        gt=0,
        le=86_400,
        title="Fusion window (s)",
        description="Confirmed detections of several cameras within this time can be one event.",
    )
    min_angle_deg: float = Field(
        5.0, ge=0, lt=90, title="Minimum crossing angle", description="Flatter crossings give no point."
    )


class FirePipelineConfig(_Section):
    detector: UltralyticsDetectorConfig = Field(
        default_factory=lambda: UltralyticsDetectorConfig(
            type="ultralytics", model="fire-smoke-yolov8", imgsz=640, conf=0.15
        ),
        title="Detector",
        description="Any ultralytics smoke/fire checkpoint (manifest name or path), classes smoke/fire.",
    )
    tiling: TilingConfig = Field(default_factory=TilingConfig, title="Tiling")
    quality: QualityConfig = Field(default_factory=QualityConfig, title="Frame quality checks")
    masks: dict[str, list[Polygon]] = Field(
        default_factory=dict,
        title="Occlusion masks",
        description="Per camera slug, polygons in full-frame pixels where detections are ignored "
        "(chimneys, roads, industrial plumes).",
    )
    mask_min_fraction: float = Field(
        0.5,
        gt=0,
        le=1,
        title="Masked fraction",
        description="A box is ignored when its centre, or this fraction of its area, lies in a mask.",
    )
    confirmation: ConfirmationConfig = Field(default_factory=ConfirmationConfig, title="Confirmation")
    danger_level: int | None = Field(
        None,
        ge=1,
        le=5,
        title="Fixed danger level",
        description="Overrides the daily level set by operators (None: read it from the database).",
    )
    localisation: LocalisationConfig = Field(default_factory=LocalisationConfig, title="Localisation")
    kinds: dict[str, Literal["smoke", "fire"]] = Field(
        default_factory=lambda: {"smoke": "smoke", "fire": "fire"},
        title="Alert kind per class",
        description="Model class name → alert kind; other classes are ignored.",
    )
    webhooks: list[str] = Field(
        default_factory=list,
        title="Webhooks",
        description="URLs that receive a JSON POST when a new alert is created.",
    )
    save_frames: bool = Field(
        True, title="Save alert frames", description="JPEG of the best frame per alert."
    )

    @field_validator("masks")
    @classmethod
    def _polygons(cls, value: dict[str, list[Polygon]]) -> dict[str, list[Polygon]]:
        for slug, polygons in value.items():
            for i, poly in enumerate(polygons):
                if len(poly) < 3:
                    raise ValueError(f"masks.{slug}[{i}]: expected a polygon of at least 3 [x, y] points")
        return value

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook {url!r}: expected an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _kinds(self) -> FirePipelineConfig:
        if not self.kinds:
            raise ValueError("kinds: map at least one model class to 'smoke' or 'fire'")
        return self
