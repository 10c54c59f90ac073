"""`vigie smoke PATH`: run the fire pipeline once on an image, a folder of images or a video; print JSON.

Nothing is written to the database: the output lists every detection (with its bearing when a camera
file gives the geometry) and the events that were confirmed, as the worker would have alerted them.

    vigie smoke frames/ --camera tour-nord.yaml --conf 0.2 --tiles 2x1

`--camera FILE` is a YAML mapping of camera fields: slug, name, longitude, latitude, heading_deg, hfov_deg.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vigie.errors import InvalidInputError, NotFoundError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


class SmokeCameraFile(BaseModel):
    """The `--camera` file: where the camera is and where it looks."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field("camera", min_length=1, max_length=64)
    name: str = ""
    longitude: float | None = Field(None, ge=-180, le=180)
    latitude: float | None = Field(None, ge=-90, le=90)
    heading_deg: float | None = Field(None, ge=0, le=360)
    hfov_deg: float | None = Field(None, gt=0, lt=180)
    tilt_deg: float = Field(0.0, gt=-90, lt=90)
    calibration_version: str | None = None


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "smoke", help="detect smoke/fire in an image, folder or video; print detections, alerts, bearings"
    )
    p.add_argument("path", type=Path, help="an image, a folder of images, or a video file")
    p.add_argument("--camera", type=Path, help="YAML file: heading_deg, hfov_deg, longitude, latitude...")
    p.add_argument("--conf", type=float, default=None, help="detector confidence threshold (default 0.15)")
    p.add_argument("--model", default=None, help="manifest model name or checkpoint path")
    p.add_argument("--imgsz", type=int, default=None, help="network input size (default 640)")
    p.add_argument("--tiles", choices=["1x1", "2x1", "2x2", "3x2"], default=None, help="tile grid")
    p.add_argument("--danger-level", type=int, choices=range(1, 6), default=3, help="fire-danger level 1-5")
    p.add_argument("--fps", type=float, default=1.0, help="video: frames per second analysed (default 1)")
    p.add_argument("--interval", type=float, default=10.0, help="images: seconds between frames (default 10)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (it goes to stderr)")
    p.set_defaults(func=cmd_smoke)


def _camera(path: Path | None) -> SmokeCameraFile:
    if path is None:
        return SmokeCameraFile()
    from vigie.config_loader import load_yaml_model

    return load_yaml_model(path, SmokeCameraFile)


def _frames(path: Path, *, camera: str, fps: float, interval_s: float):
    """Frames of an image, a folder (one every `interval_s`, in name order) or a video (`fps`)."""
    from datetime import timedelta

    import cv2

    from vigie.vision.frame import Frame

    if not path.exists():
        raise NotFoundError(f"vigie smoke: {path} does not exist")
    t0 = datetime.now(UTC).replace(microsecond=0)
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        files = (
            sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        if not files:
            raise InvalidInputError(
                f"vigie smoke: folder {path} holds no image ({', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        for i, file in enumerate(files):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                print(f"vigie smoke: {file}: not a readable image, skipped", file=sys.stderr)
                continue
            at = t0 + timedelta(seconds=i * interval_s)
            yield file.name, Frame(image=image, camera_id=camera, captured_at=at, sequence=i)
        return
    from vigie.vision.source_config import FileSourceConfig
    from vigie.vision.sources import open_source

    source = open_source(camera, FileSourceConfig(type="file", path=path, target_fps=fps))
    try:
        for frame in source.frames(timeout_s=1.0):
            if frame is not None:
                yield f"{path.name}@{frame.source_time_s or 0:.2f}s", frame
    finally:
        source.close()


def cmd_smoke(args: argparse.Namespace) -> int:
    from vigie.pipelines.base import CameraContext
    from vigie.pipelines.fire.config import FirePipelineConfig
    from vigie.pipelines.fire.geometry import CameraGeometry
    from vigie.pipelines.fire.pipeline import FirePipeline
    from vigie.settings import get_settings
    from vigie.vision.detector import build_detector

    if not args.path.exists():
        raise NotFoundError(f"vigie smoke: {args.path} does not exist")
    cam = _camera(args.camera)
    config = FirePipelineConfig(danger_level=args.danger_level)
    det_update = {k: v for k, v in {"conf": args.conf, "model": args.model, "imgsz": args.imgsz}.items() if v}
    if args.conf is not None and not 0 <= args.conf <= 1:
        raise InvalidInputError(f"--conf {args.conf}: expected a confidence between 0 and 1")
    config = config.model_copy(
        update={
            "detector": config.detector.model_copy(update=det_update),
            "tiling": config.tiling.model_copy(update={"grid": args.tiles} if args.tiles else {}),
        }
    )
    geometry = CameraGeometry(
        camera_id=0,
        slug=cam.slug,
        site_id=0,
        name=cam.name,
        longitude=cam.longitude,
        latitude=cam.latitude,
        heading_deg=cam.heading_deg,
        hfov_deg=cam.hfov_deg,
        tilt_deg=cam.tilt_deg,
        calibration_version=cam.calibration_version,
    )
    detector = build_detector(config.detector, weights_dir=get_settings().weights_dir)
    pipeline = FirePipeline(config, detector, cameras={cam.slug: geometry}, data_dir=None)
    context = CameraContext(
        camera_id=0, slug=cam.slug, site_id=0, calibration_version=cam.calibration_version
    )
    from tqdm import tqdm

    frames = _frames(args.path, camera=cam.slug, fps=args.fps, interval_s=args.interval)
    # On stderr, so that stdout stays one JSON document.
    with tqdm(frames, desc="smoke", unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        report = run_smoke(pipeline, context, bar)
    report["model"] = {"name": detector.name, "version": detector.version}
    report["camera"] = cam.model_dump()
    print(json.dumps(report, indent=2, default=str))
    return 0


def run_smoke(pipeline: Any, context: Any, frames: Any) -> dict[str, Any]:
    """Feed frames to the pipeline without a database; collect detections and confirmed events."""
    from vigie.pipelines.fire.pipeline import BEARING_REASONS

    detections: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    events: dict[str, dict[str, Any]] = {}
    count = 0
    for label, frame in frames:
        count += 1
        pipeline.process(context, frame)  # the writes are not applied: nothing is stored
        result = pipeline.last_result
        if result.skipped:
            skipped.append({"frame": label, "reason": result.skipped})
        for d in result.detections:
            detections.append({"frame": label, "captured_at": frame.captured_at.isoformat(), **d})
        for public_id in result.alerts:
            event = next(e for e in pipeline.registry.events if e.public_id == public_id)
            loc = event.localisation
            events[public_id] = {
                "public_id": public_id,
                "kind": event.kind,
                "first_seen_at": event.first_seen_at.isoformat(),
                "last_seen_at": event.last_seen_at.isoformat(),
                "confirmed_on_frame": events.get(public_id, {}).get("confirmed_on_frame", label),
                "confidence": round(event.confidence, 4),
                "bearings": [
                    {
                        "camera": s.camera.slug,
                        "azimuth_deg": round(s.bearing.azimuth_deg, 3),
                        "left_deg": round(s.bearing.left_deg, 3),
                        "right_deg": round(s.bearing.right_deg, 3),
                    }
                    if s.bearing is not None
                    else {
                        "camera": s.camera.slug,
                        "azimuth_deg": None,
                        "reason": BEARING_REASONS.get(s.reason or "", s.reason),
                    }
                    for s in event.sightings.values()
                ],
                "box": list(event.best.xyxy) if event.best is not None else None,
                "location": None
                if loc is None or loc.point is None
                else {"longitude": loc.point.x, "latitude": loc.point.y},
            }
    if count == 0:
        raise InvalidInputError("vigie smoke: no frame could be read from the input")
    return {
        "frames": count,
        "skipped": skipped,
        "detections": detections,
        "alerts": list(events.values()),
    }
