"""The YAML site file: a site, its cameras (geometry + source) and one section per pipeline.

    site: {slug: fecamp-centre, name: Fécamp centre, kind: traffic, longitude: 0.37, latitude: 49.76}
    cameras:
      - slug: quai-1
        name: Quai Bérigny
        role: traffic
        source: {type: stream, url: rtsp://10.0.0.5/stream1, target_fps: 10}
    detect:
      detector: {type: darknet, model: coco-yolov4-tiny}

Validated with pydantic (`extra="forbid"`): an error names the file, the key, its line and what was expected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from vigie.config_loader import load_yaml_model
from vigie.errors import ConfigError, NotFoundError
from vigie.pipelines.base import CameraContext
from vigie.pipelines.detect import DetectPipelineConfig
from vigie.pipelines.fire.config import FirePipelineConfig
from vigie.pipelines.lapi.config import LapiPipelineConfig
from vigie.pipelines.shoreline.config import ShorelinePipelineConfig
from vigie.pipelines.traffic.config import TrafficPipelineConfig
from vigie.services import cameras as camera_service
from vigie.services import sites as site_service
from vigie.services.schemas import CameraCreate, CameraUpdate, SiteCreate, SiteUpdate
from vigie.vision.source_config import FileSourceConfig, ImagesSourceConfig, SourceConfig, redact_url


class CameraConfig(CameraCreate):
    source: SourceConfig | None = Field(
        None, title="Source", description="Where frames come from (file, images, stream or snapshot)."
    )

    @model_validator(mode="after")
    def _presets_are_known_poses(self) -> Self:
        # A patrol stop without its pose's heading would give bearings from a guessed direction.
        known = {pose.name for pose in self.poses}
        unknown = [p.pose for p in getattr(self.source, "presets", []) if p.pose not in known]
        if unknown:
            raise ValueError(
                f"source.presets: pose(s) {', '.join(unknown)} not among this camera's poses "
                f"({', '.join(sorted(known)) or 'none'}): declare each preset in `poses` with its heading"
            )
        return self


class SiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: SiteCreate = Field(title="Site", description="The site all cameras of this file belong to.")
    cameras: list[CameraConfig] = Field(default_factory=list, title="Cameras")
    detect: DetectPipelineConfig | None = Field(
        None, title="Detect pipeline", description="Settings of `vigie run detect`."
    )
    fire: FirePipelineConfig | None = Field(None, title="Fire pipeline", description="`vigie run fire`.")
    traffic: TrafficPipelineConfig | None = Field(
        None, title="Traffic pipeline", description="`vigie run traffic`."
    )
    lapi: LapiPipelineConfig | None = Field(None, title="LAPI pipeline", description="`vigie run lapi`.")
    shoreline: ShorelinePipelineConfig | None = Field(
        None, title="Shoreline pipeline", description="`vigie run shoreline`."
    )


def _resolve_relative(config: SiteConfig, base: Path) -> SiteConfig:
    """Paths of file and image sources are relative to the YAML file, as a reader would expect."""
    for camera in config.cameras:
        src = camera.source
        if isinstance(src, FileSourceConfig) and not Path(src.path).is_absolute():
            camera.source = src.model_copy(update={"path": base / src.path})
        elif isinstance(src, ImagesSourceConfig) and not Path(src.directory).is_absolute():
            camera.source = src.model_copy(update={"directory": base / src.directory})
    return config


def load_site_config(path: str | Path) -> SiteConfig:
    path = Path(path)
    config = _resolve_relative(load_yaml_model(path, SiteConfig), path.resolve().parent)
    slugs = [c.slug for c in config.cameras]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise ConfigError(f"{path}: cameras: duplicate camera slugs {duplicates}")
    return config


def _source_uri(source: SourceConfig | None) -> str | None:
    if source is None:
        return None
    if isinstance(source, FileSourceConfig):
        return str(source.path)
    if isinstance(source, ImagesSourceConfig):
        return str(source.directory)
    return redact_url(source.url)


def sync_site(session: Session, config: SiteConfig) -> dict[str, CameraContext]:
    """Create or update the site and its cameras from the file; return each camera's context by slug.

    Cameras in the database but absent from the file are left alone (another worker may own them).
    """
    site_fields = config.site.model_dump()
    try:
        site = site_service.get_site(session, slug=config.site.slug)
        site = site_service.update_site(session, site_id=site.id, data=SiteUpdate(**site_fields))
    except NotFoundError:
        site = site_service.create_site(session, data=config.site)
    contexts: dict[str, CameraContext] = {}
    for cam in config.cameras:
        fields = cam.model_dump(exclude={"source"})
        if fields.get("source_uri") is None:
            fields["source_uri"] = _source_uri(cam.source)
        try:
            row = camera_service.get_camera_by_ref(session, site_slug=site.slug, camera_slug=cam.slug)
            row = camera_service.update_camera(session, camera_id=row.id, data=CameraUpdate(**fields))
        except NotFoundError:
            row = camera_service.create_camera(session, site_id=site.id, data=CameraCreate(**fields))
        contexts[cam.slug] = CameraContext(
            camera_id=row.id, slug=row.slug, site_id=site.id, calibration_version=row.calibration_version
        )
    return contexts
