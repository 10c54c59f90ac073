"""Fixtures of the fire tests: two lookout towers in the database, and the fire pipeline's test doubles
(a scripted detector, synthetic frames, a site made through the services, the worker's write batches).

The doubles live here rather than in the package: nothing outside the tests uses them. Tests reach them
through fixtures, since test modules cannot import one another (pytest's importlib mode).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy
from shapely.geometry import Point
from sqlalchemy.orm import Session

from vigie.pipelines.base import CameraContext
from vigie.pipelines.fire.geometry import CameraGeometry
from vigie.services import cameras as camera_service
from vigie.services import sites as site_service
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.store.db import session_scope
from vigie.store.models import Camera, CameraRole, Site, SiteKind
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)
Box = tuple[str, float, tuple[float, float, float, float]]  # class name, confidence, xyxy
SiteCameras = dict[str, tuple[CameraContext, CameraGeometry]]


# --- two lookout towers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Towers:
    """A fire site and its two lookouts: north (looking south) and south (looking north-north-west)."""

    site: Site
    north: Camera
    south: Camera

    def __iter__(self) -> Iterator[Site | Camera]:
        """Unpacks as `site, north, south = two_towers`."""
        return iter((self.site, self.north, self.south))


@pytest.fixture
def two_towers(session: Session) -> Towers:
    """The site and its towers, committed (other sessions and the API see them); objects stay readable."""
    site = Site(slug="massif", name="Massif", kind=SiteKind.FIRE, location=Point(5.4, 43.5))
    north = Camera(
        slug="north",
        name="North tower",
        role=CameraRole.LOOKOUT,
        location=Point(5.40, 43.55),
        heading_deg=180.0,
        hfov_deg=60.0,
    )
    south = Camera(
        slug="south",
        name="South tower",
        role=CameraRole.LOOKOUT,
        location=Point(5.45, 43.45),
        heading_deg=330.0,
        hfov_deg=60.0,
    )
    site.cameras.extend([north, south])
    session.add(site)
    session.commit()
    return Towers(site=site, north=north, south=south)


# --- fire pipeline doubles ----------------------------------------------------------------------------


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
        ids = {v: k for k, v in self.names.items()}
        for _ in images:
            self.calls += 1
            boxes = self.script.popleft() if self.script else []
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


def synthetic_frame(
    camera: str, seconds: float, *, seed: int | None = None, image: np.ndarray | None = None
) -> Frame:
    """A frame of `camera` captured `seconds` after T0 (a textured image unless `image` is given)."""
    img = image if image is not None else textured_image(int(seconds * 1000) if seed is None else seed)
    return Frame(image=img, camera_id=camera, captured_at=T0 + timedelta(seconds=seconds))


def make_site(session: Session, cameras: list[dict]) -> SiteCameras:
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


@pytest.fixture
def scripted_detector() -> type[ScriptedDetector]:
    """`scripted_detector([[("smoke", 0.6, (x1, y1, x2, y2))], [], ...])`: one list of boxes per image."""
    return ScriptedDetector


@pytest.fixture
def fire_frame() -> Callable[..., Frame]:
    """`fire_frame("tour-nord", 30)`: a textured frame of that camera, 30 s after T0."""
    return synthetic_frame


@pytest.fixture
def t0() -> datetime:
    """The instant the synthetic frames count from."""
    return T0


@pytest.fixture
def fire_site(engine: sqlalchemy.Engine) -> Callable[[list[dict]], SiteCameras]:
    """`fire_site([{slug, name, longitude, latitude, heading_deg, hfov_deg}, ...])`: a committed fire site
    with those lookouts; returns (CameraContext, CameraGeometry) by camera slug."""

    def create(cameras: list[dict]) -> SiteCameras:
        with session_scope(engine) as session:
            return make_site(session, cameras)

    return create


@pytest.fixture
def apply_writes(engine: sqlalchemy.Engine) -> Callable[[Iterable[Callable[[Session], None]]], None]:
    """Apply a pipeline's writes as the worker's writer thread does (one transaction per batch)."""

    def apply(writes: Iterable[Callable[[Session], None]]) -> None:
        writes = list(writes)
        if writes:
            with session_scope(engine) as session:
                for write in writes:
                    write(session)

    return apply
