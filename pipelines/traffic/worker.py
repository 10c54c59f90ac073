"""`vigie run traffic --config FILE`: the pipeline built from a site file's `traffic:` section."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vigie.errors import ConfigError
from vigie.pipelines.traffic.pipeline import TrafficPipeline
from vigie.settings import Settings
from vigie.vision.detector import build_detector

if TYPE_CHECKING:
    from vigie.config import SiteConfig


def build_pipeline(*, config: SiteConfig, settings: Settings) -> TrafficPipeline:
    section = config.traffic
    if section is None:
        raise ConfigError("site file has no `traffic:` section; add one with the counting lines per camera")
    slugs = {c.slug for c in config.cameras}
    unknown = sorted(set(section.cameras) - slugs)
    if unknown:
        raise ConfigError(
            f"traffic.cameras: {unknown} are not cameras of this site ({', '.join(sorted(slugs))})"
        )
    detector = build_detector(section.detector, weights_dir=settings.weights_dir)
    return TrafficPipeline(section, detector, timezone=config.site.timezone, weights_dir=settings.weights_dir)
