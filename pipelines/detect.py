"""The `detect` pipeline: every detection of a configured model, stored with its provenance.

The generic spine the use-case pipelines build on; useful on its own to survey what a camera sees.
Only boxes and scores are stored, never the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from vigie.pipelines.base import CameraContext, Write
from vigie.settings import Settings
from vigie.store.models import Detection
from vigie.vision.detections import Detections
from vigie.vision.detector import (
    DarknetDetectorConfig,
    Detector,
    UltralyticsDetectorConfig,
    build_detector,
)
from vigie.vision.frame import Frame

DetectorConfig = Annotated[UltralyticsDetectorConfig | DarknetDetectorConfig, Field(discriminator="type")]


class DetectPipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    detector: DetectorConfig = Field(
        default_factory=lambda: DarknetDetectorConfig(type="darknet", model="coco-yolov4-tiny"),
        title="Detector",
        description="Model and inference settings (type: darknet or ultralytics).",
    )
    min_confidence: float = Field(
        0.3, ge=0, le=1, title="Minimum confidence", description="Detections below are not stored."
    )
    class_names: list[str] | None = Field(
        None, title="Classes stored", description="Model class names to keep (None = all)."
    )


def detection_rows(camera: CameraContext, detections: Detections, *, pipeline: str) -> list[Detection]:
    """One `detections` row per box, with model and calibration provenance and the capture time."""
    meta = detections.metadata
    return [
        Detection(
            camera_id=camera.camera_id,
            captured_at=meta["captured_at"],
            pipeline=pipeline,
            class_name=str(name),
            confidence=float(conf),
            x1=float(box[0]),
            y1=float(box[1]),
            x2=float(box[2]),
            y2=float(box[3]),
            tracker_id=None if detections.tracker_id is None else int(detections.tracker_id[i]),
            model_name=str(meta["model"]),
            model_version=str(meta["model_version"]),
            calibration_version=camera.calibration_version,
            data={"sequence": meta.get("sequence"), "image_size": list(meta.get("image_size", ()))},
        )
        for i, (box, conf, name) in enumerate(
            zip(detections.xyxy, detections.confidence, detections.class_name, strict=True)
        )
    ]


class DetectPipeline:
    name = "detect"

    def __init__(self, config: DetectPipelineConfig, detector: Detector) -> None:
        self.config = config
        self.detector = detector

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        detections = self.detector.detect(frame).above(self.config.min_confidence)
        if self.config.class_names is not None:
            wanted = set(self.config.class_names)
            detections = detections[[str(n) in wanted for n in detections.class_name]]
        if not len(detections):
            return []
        rows = detection_rows(camera, detections, pipeline=self.name)

        def write(session: Session) -> None:
            session.add_all(rows)

        return [write]

    def close(self) -> Sequence[Write]:
        return []


def build_detect_pipeline(*, config: object, settings: Settings) -> DetectPipeline:
    section: DetectPipelineConfig = getattr(config, "detect", None) or DetectPipelineConfig()
    return DetectPipeline(section, build_detector(section.detector, weights_dir=settings.weights_dir))
