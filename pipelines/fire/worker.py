"""`vigie run fire --config FILE`: the fire pipeline built from a site file and the process settings."""

from __future__ import annotations

import logging
import threading
import time
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from vigie.config import CameraConfig, SiteConfig
from vigie.pipelines.fire.config import FirePipelineConfig
from vigie.pipelines.fire.geometry import CameraGeometry, CameraPoseGeometry
from vigie.pipelines.fire.pipeline import FirePipeline
from vigie.services.fire_alerts import DEFAULT_TIMEZONE
from vigie.settings import Settings
from vigie.store.models import Site

log = logging.getLogger("vigie.fire")


def camera_geometry(camera: CameraConfig, *, camera_id: int = 0, site_id: int = 0) -> CameraGeometry:
    """Geometry of a camera of the site file (ids are filled in once the database knows the camera)."""
    return CameraGeometry(
        camera_id=camera_id,
        slug=camera.slug,
        site_id=site_id,
        name=camera.name,
        longitude=camera.longitude,
        latitude=camera.latitude,
        heading_deg=camera.heading_deg,
        hfov_deg=camera.hfov_deg,
        calibration_version=camera.calibration_version,
        poses={p.name: CameraPoseGeometry(p.heading_deg, p.hfov_deg, p.tilt_deg) for p in camera.poses},
    )


class DatabaseDangerLevel:
    """The fire-danger level of the site's local day (set in the console), read at most once a minute.

    The level is set per calendar day in the site's time zone: 22:30 UTC on 14 July is already 15 July in
    Paris, so the capture instant is converted before the lookup.
    """

    def __init__(self, url: str, *, ttl_s: float = 60.0) -> None:
        from vigie.store.db import make_engine

        self.engine = make_engine(url)
        self.ttl_s = ttl_s
        self._cache: dict[tuple[int, date], tuple[float, int]] = {}
        self._zones: dict[int, ZoneInfo] = {}
        self._lock = threading.Lock()

    def _zone(self, session: Session, site_id: int) -> ZoneInfo:
        if site_id not in self._zones:
            site = session.get(Site, site_id)
            self._zones[site_id] = ZoneInfo(site.timezone if site is not None else DEFAULT_TIMEZONE)
        return self._zones[site_id]

    def __call__(self, site_id: int, at: datetime) -> int:
        from vigie.services.fire_alerts import current_danger_level
        from vigie.store.db import session_scope

        with self._lock:
            zone = self._zones.get(site_id)
            cached = self._cache.get((site_id, at.astimezone(zone).date())) if zone else None
            if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
                return cached[1]
            try:
                with session_scope(self.engine) as session:
                    day = at.astimezone(self._zone(session, site_id)).date()
                    level = current_danger_level(session, site_id=site_id, day=day)
            except SQLAlchemyError as exc:
                level = cached[1] if cached is not None else 3
                log.warning("danger level of site %s unreadable (%s); using %d", site_id, exc, level)
                return level
            self._cache[(site_id, day)] = (time.monotonic(), level)
            return level

    def close(self) -> None:
        self.engine.dispose()


def build_pipeline(*, config: SiteConfig, settings: Settings) -> FirePipeline:
    from vigie.vision.detector import build_detector

    section = config.fire or FirePipelineConfig()
    detector = build_detector(section.detector, weights_dir=settings.weights_dir)
    cameras = {c.slug: camera_geometry(c) for c in config.cameras}
    danger = None if section.danger_level is not None else DatabaseDangerLevel(settings.resolved_database_url)
    return FirePipeline(section, detector, cameras=cameras, data_dir=settings.data_dir, danger_level=danger)
