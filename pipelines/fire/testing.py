"""Test doubles for the fire pipeline: a scripted detector, synthetic frames, a site with cameras.

Shipped in the package (not under tests/) so that the fire tests of every file and the API tests can share
them; nothing here loads a model or touches the network.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from vigie.pipelines.base import CameraContext
from vigie.pipelines.fire.geometry import CameraGeometry
from vigie.services import cameras as camera_service
from vigie.services import sites as site_service
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.store.db import session_scope
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)
Box = tuple[str, float, tuple[float, float, float, float]]  # class name, confidence, xyxy


class ScriptedDetector(Detector):
    """Returns, for each image, the next scripted list of boxes (empty once the script is exhausted)."""

    def __init__(self, script: Iterable[list[Box]] = ()) -> None:
        self.name, self.version, self.device, self.half = "fake-fire", "test-1", "cpu", False
        self.names = {0: "smoke", 1: "fire"}
        self.input_size, self.batch = 640, 8
        self.script: deque[list[Box]] = deque(script)
        self.calls = 0

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        out = []
        for _ in images:
            self.calls += 1
            boxes = self.script.popleft() if self.script else []
            ids = {v: k for k, v in self.names.items()}
            out.append(
                Detections(
                    xyxy=np.array([b for _, _, b in boxes], dtype=np.float32).reshape(-1, 4),
                    confidence=np.array([c for _, c, _ in boxes], dtype=np.float32),
                    class_id=np.array([ids[n] for n, _, _ in boxes], dtype=np.int64),
                )
            )
        return out


def textured_image(seed: int, width: int = 1280, height: int = 720) -> np.ndarray:
    """A noisy mid-grey image: not black, not uniform, and different for every seed (never frozen)."""
    rng = np.random.default_rng(seed)
    return rng.integers(60, 200, size=(height, width, 3), dtype=np.uint8)


def frame(camera: str, seconds: float, *, seed: int | None = None, image: np.ndarray | None = None) -> Frame:
    img = image if image is not None else textured_image(int(seconds * 1000) if seed is None else seed)
    return Frame(image=img, camera_id=camera, captured_at=T0 + timedelta(seconds=seconds))


def make_site(session: Session, cameras: list[dict]) -> dict[str, tuple[CameraContext, CameraGeometry]]:
    """A fire site with cameras (dicts of CameraCreate fields); returns context and geometry by slug."""
    site = site_service.create_site(
        session, data=SiteCreate(slug="sarthe", name="Sarthe", kind="fire", longitude=0.2, latitude=47.9)
    )
    out = {}
    for fields in cameras:
        row = camera_service.create_camera(
            session, site_id=site.id, data=CameraCreate(role="lookout", **fields)
        )
        ctx = CameraContext(camera_id=row.id, slug=row.slug, site_id=site.id, calibration_version="cal-1")
        geo = CameraGeometry(
            camera_id=row.id,
            slug=row.slug,
            site_id=site.id,
            name=row.name,
            longitude=row.longitude,
            latitude=row.latitude,
            heading_deg=row.heading_deg,
            hfov_deg=row.hfov_deg,
            calibration_version="cal-1",
        )
        out[row.slug] = (ctx, geo)
    session.flush()
    return out


def apply(engine, writes) -> None:
    """Apply a pipeline's writes as the worker's writer thread does (one transaction per batch)."""
    writes = list(writes)
    if writes:
        with session_scope(engine) as session:
            for write in writes:
                write(session)
