"""Configuration of the traffic pipeline: the `traffic:` section of a YAML site file.

traffic:
  bin_minutes: 15
  cameras:
    quai-1:
      lines:
        - {name: quai-nord, points: [[20, 100], [225, 100]], lanes: 4,
           labels: {out: towards centre, in: towards beach}}
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie.pipelines.traffic.classes import VIGIE_CLASSES, check_classes
from vigie.vision.detector import DarknetDetectorConfig, UltralyticsDetectorConfig

DetectorConfig = Annotated[UltralyticsDetectorConfig | DarknetDetectorConfig, Field(discriminator="type")]
Point = tuple[float, float]
TileCount = Annotated[int, Field(ge=1, le=8)]
Anchor = Literal["bottom_center", "center", "top_center"]
Direction = Literal["in", "out"]
# ByteTrack settings that differ from vigie.vision.tracker's defaults for counting: weighing IoU by the
# detection score loses small vehicles scored 0.2-0.4 by YOLOv4-tiny (highway-a: 23 vs 18 of 45 counted).
# The detector's conf equals ByteTrack's track_low_thresh (0.1): boxes scored 0.1-0.25 only extend tracks
# already started by a box >= 0.25 (ByteTrack's low-score association), so tracks survive the frames where
# YOLOv4-tiny scores a small vehicle low, without starting tracks on low-score clutter.
TRACKER_DEFAULTS: dict[str, Any] = {"fuse_score": False, "track_low_thresh": 0.1}
DEFAULT_CONF = 0.1
DEFAULT_INPUT_SIZE = 832
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LineConfig(_Strict):
    name: Name = Field(title="Name", description="Short name, stored with every count (e.g. quai-nord).")
    points: tuple[Point, Point] = Field(
        title="End points", description="[[x1, y1], [x2, y2]] in pixels of the full frame."
    )
    directions: list[Direction] = Field(
        default_factory=lambda: ["in", "out"],
        min_length=1,
        title="Directions counted",
        description="`out` = crossing from the left of A→B to its right as seen in the image (y down), "
        "`in` the other way.",
    )
    labels: dict[Direction, str] = Field(
        default_factory=dict, title="Direction labels", description='e.g. {out: "towards centre"}.'
    )
    lanes: int = Field(
        1, ge=1, le=12, title="Lanes", description="Lanes the line spans (sets the lane width)."
    )
    anchor: Anchor = Field(
        "bottom_center", title="Reference point", description="Point of the box that must cross the line."
    )
    band_px: float = Field(
        3.0,
        ge=0,
        title="Hysteresis band (px)",
        description="Points closer to the line keep the previous side.",
    )
    min_frames: int = Field(
        2, ge=1, le=30, title="Frames on the new side", description="Observations beyond the band to count."
    )

    @model_validator(mode="after")
    def _real_segment(self) -> LineConfig:
        from vigie.pipelines.traffic.lines import LineGeometry

        LineGeometry(*self.points[0], *self.points[1])  # raises on zero length or non-finite points
        return self


class ZoneConfig(_Strict):
    name: Name = Field(title="Name")
    polygon: list[Point] = Field(min_length=3, title="Polygon", description="Pixels of the full frame.")
    anchor: Anchor = Field("bottom_center", title="Reference point")


class SpeedConfig(_Strict):
    image_points: list[Point] = Field(min_length=4, title="Image points (px)")
    world_points: list[Point] = Field(
        min_length=4, title="Road points (m)", description="Same order as image_points; any planar frame."
    )
    window_s: float = Field(
        1.0, gt=0, le=10, title="Window (s)", description="Speed measured over this time."
    )
    max_rms_error_m: float = Field(
        0.5, gt=0, title="Largest fit error (m)", description="A worse fit is refused as a calibration error."
    )

    @model_validator(mode="after")
    def _same_length(self) -> SpeedConfig:
        if len(self.image_points) != len(self.world_points):
            raise ValueError(
                f"{len(self.image_points)} image points for {len(self.world_points)} world points"
            )
        return self


class TrafficCameraConfig(_Strict):
    lines: list[LineConfig] = Field(default_factory=list, title="Counting lines")
    zones: list[ZoneConfig] = Field(default_factory=list, title="Zones")
    speed: SpeedConfig | None = Field(None, title="Speed calibration", description="Road-plane points.")

    @model_validator(mode="after")
    def _something_to_count(self) -> TrafficCameraConfig:
        if not self.lines and not self.zones:
            raise ValueError("a traffic camera needs at least one line or zone")
        names = [x.name for x in self.lines] + [z.name for z in self.zones]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"line/zone names must be unique per camera; repeated: {duplicates}")
        return self


class TrafficPipelineConfig(_Strict):
    detector: DetectorConfig = Field(
        default_factory=lambda: DarknetDetectorConfig(
            type="darknet", model="coco-yolov4-tiny", input_size=DEFAULT_INPUT_SIZE, conf=DEFAULT_CONF
        ),
        title="Detector",
        description="COCO model (darknet offline, or any ultralytics checkpoint). Small sources gain from "
        "a larger input (upscaled small vehicles); see docs/BENCHMARKS.md.",
    )
    agnostic_nms_iou: float | None = Field(
        0.7,
        gt=0,
        le=1,
        title="Class-agnostic NMS overlap",
        description="Of two boxes overlapping more than this, whatever their classes (car and truck on one "
        "vehicle), only the higher-scored is tracked. None: off.",
    )
    tiles: tuple[TileCount, TileCount] | None = Field(
        None,
        title="Tiles (columns, rows)",
        description="Run the detector on overlapping tiles of each frame (one batch) instead of the whole "
        "frame: more pixels for small far vehicles, at the cost of one inference per tile.",
    )
    # A plain mapping checked against `vigie.vision.tracker.ByteTrackConfig` only when given: importing the
    # tracker imports ultralytics (2 s), which reading a site file (API, CLI) must not pay.
    tracker: dict[str, Any] | None = Field(
        None, title="Tracker (ByteTrack)", description="ByteTrack settings (see ByteTrackConfig)."
    )
    detect_every: int = Field(
        1, ge=1, le=30, title="Detector stride", description="Run detection+tracking on every k-th frame."
    )
    classes: list[str] = Field(
        default_factory=lambda: list(VIGIE_CLASSES),
        min_length=1,
        title="Classes counted",
        description=f"Some of {', '.join(VIGIE_CLASSES)}.",
    )
    bin_minutes: Literal[1, 5, 15, 60] = Field(15, title="Bin (minutes)")
    heavy_min_lanes: float = Field(
        1.6,
        gt=0,
        title="Heavy-goods size (lanes)",
        description="A COCO `truck` whose box's larger side at the line is at least this many lane widths is "
        "`heavy`; smaller ones (pickups, vans) are `car`.",
    )
    track_ttl_s: float = Field(
        5.0, gt=0, le=120, title="Track memory (s)", description="Unseen tracks forgotten."
    )
    vote_delay_s: float = Field(
        2.0,
        ge=0,
        le=30,
        title="Class vote delay (s)",
        description="A crossing's class is decided this long "
        "after it (or when its track ends), from the votes of the whole track seen so far.",
    )
    max_gap_s: float = Field(
        10.0,
        gt=0,
        title="Largest frame gap (s)",
        description="A longer gap in frames makes its bins partial.",
    )
    write_every_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        title="Open-bin write interval (s)",
        description="An open bin is rewritten at most this often (frame time), so a crash loses little; "
        "a closed bin is written once, and crossings and zone/OD events at once.",
    )
    debug_frames_dir: Path | None = Field(
        None,
        title="Debug frames",
        description="If set, one annotated frame per `debug_every_s` is saved there, faces and plates "
        "blurred. Off by default: the pipeline stores statistics only.",
    )
    debug_every_s: float = Field(60.0, gt=0, title="Debug frame interval (s)")
    cameras: dict[str, TrafficCameraConfig] = Field(
        min_length=1, title="Cameras", description="Camera slug → its lines, zones and speed calibration."
    )

    @field_validator("tracker")
    @classmethod
    def _tracker_settings(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        from vigie.vision.tracker import ByteTrackConfig

        return ByteTrackConfig(**(TRACKER_DEFAULTS | value)).model_dump()

    @field_validator("classes")
    @classmethod
    def _known_classes(cls, value: list[str]) -> list[str]:
        return check_classes(value, where="traffic.classes")
