"""Locate a fire from the bearing cones of several lookout cameras.

Geometry is done in a local azimuthal-equidistant plane centred on the cameras, where azimuths and
distances from the centre are true: Lambert-93 grid north differs from true north by up to ~3° across
France (meridian convergence), which would bias every bearing. Results are returned in WGS84 and
Lambert-93 (EPSG:2154).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from pyproj import Geod, Transformer
from scipy.optimize import least_squares
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from vigie.calibration.bearing import Bearing
from vigie.calibration.crs import LAMBERT93, WGS84, check_lonlat, crs
from vigie.errors import InvalidInputError

ARC_STEP_DEG = 0.5  # cone arcs are drawn with at most this angular step
GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True, slots=True)
class Observation:
    """One camera's bearing on the same event."""

    camera: str
    longitude: float
    latitude: float
    bearing: Bearing


@dataclass(frozen=True, slots=True)
class Localisation:
    """Where the event is: a point and its uncertainty polygon (WGS84), or only bearing lines."""

    point: Point | None  # lon/lat
    uncertainty: Polygon | None  # lon/lat
    point_l93: tuple[float, float] | None  # Lambert-93 metres
    cones: list[Polygon]  # lon/lat, one per observation
    lines: list[LineString]  # centre bearing lines, lon/lat
    cameras: list[str]
    reason: str  # "triangulated", or why there is no point

    @property
    def located(self) -> bool:
        return self.point is not None


class _LocalPlane:
    def __init__(self, lon0: float, lat0: float) -> None:
        local = crs(WGS84).from_proj4(f"+proj=aeqd +lat_0={lat0} +lon_0={lon0} +datum=WGS84 +units=m")
        self.fwd = Transformer.from_crs(crs(WGS84), local, always_xy=True)
        self.inv = Transformer.from_crs(local, crs(WGS84), always_xy=True)

    def xy(self, lon: float, lat: float) -> np.ndarray:
        return np.array(self.fwd.transform(lon, lat))

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, lambda xy: np.column_stack(self.inv.transform(xy[:, 0], xy[:, 1])))


def _unit(azimuth_deg: float) -> np.ndarray:
    a = math.radians(azimuth_deg)
    return np.array([math.sin(a), math.cos(a)])  # east, north


def cone_polygon(origin: np.ndarray, bearing: Bearing, range_m: float) -> Polygon:
    """The sector between the bearing's edges, up to range_m, in the local plane."""
    width = bearing.width_deg
    steps = max(2, math.ceil(width / ARC_STEP_DEG) + 1)
    arc = [origin + range_m * _unit(bearing.left_deg + width * i / (steps - 1)) for i in range(steps)]
    if width < 1e-6:  # a zero-width cone is a line; give it a hair of width so it is still an area
        arc = [
            origin + range_m * _unit(bearing.left_deg - 0.01),
            origin + range_m * _unit(bearing.left_deg + 0.01),
        ]
    return Polygon([tuple(origin), *[tuple(p) for p in arc]])


def _least_squares_point(origins: list[np.ndarray], dirs: list[np.ndarray]) -> np.ndarray:
    """The point minimising the squared perpendicular distances to all rays' lines."""
    a = np.zeros((2, 2))
    b = np.zeros(2)
    for o, d in zip(origins, dirs, strict=True):
        proj = np.eye(2) - np.outer(d, d)
        a += proj
        b += proj @ o
    return np.linalg.solve(a, b)


def _refine_on_ellipsoid(observations: Sequence[Observation], lon: float, lat: float) -> tuple[float, float]:
    """Minimise cross-track distances along true geodesics, starting from the planar estimate.

    The planar solution is biased by tens of metres for cameras ~10 km from the plane's centre.
    """
    cam_lon = np.array([o.longitude for o in observations])
    cam_lat = np.array([o.latitude for o in observations])
    observed = np.radians([o.bearing.azimuth_deg for o in observations])

    def residuals(p: np.ndarray) -> np.ndarray:
        az, _, dist = GEOD.inv(cam_lon, cam_lat, np.full_like(cam_lon, p[0]), np.full_like(cam_lat, p[1]))
        return np.asarray(dist) * np.sin(np.radians(az) - observed)  # metres off each bearing line

    fit = least_squares(residuals, x0=np.array([lon, lat]), x_scale=np.array([1e-3, 1e-3]), xtol=1e-12)
    return float(fit.x[0]), float(fit.x[1])


def localise(
    observations: Sequence[Observation],
    *,
    max_range_m: float = 30_000.0,
    min_angle_deg: float = 5.0,
) -> Localisation:
    """Intersect the cones of ≥2 cameras; with one camera (or unusable geometry) return bearing lines only.

    No point is returned when the cones do not intersect within `max_range_m`, when the centre rays are
    within `min_angle_deg` of parallel (the intersection would be meaningless), or when the best point lies
    behind a camera: `reason` says which.
    """
    if not observations:
        raise InvalidInputError("localise: expected at least one observation")
    if max_range_m <= 0:
        raise InvalidInputError(f"max_range_m {max_range_m}: expected a positive range in metres")
    for obs in observations:
        check_lonlat(obs.longitude, obs.latitude, what=f"camera {obs.camera!r} position")
    names = [o.camera for o in observations]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"localise: one observation per camera expected, got {names}")
    plane = _LocalPlane(
        float(np.mean([o.longitude for o in observations])),
        float(np.mean([o.latitude for o in observations])),
    )
    origins = [plane.xy(o.longitude, o.latitude) for o in observations]
    dirs = [_unit(o.bearing.azimuth_deg) for o in observations]
    cones = [cone_polygon(o, obs.bearing, max_range_m) for o, obs in zip(origins, observations, strict=True)]
    lines = [LineString([tuple(o), tuple(o + max_range_m * d)]) for o, d in zip(origins, dirs, strict=True)]

    def result(
        point: np.ndarray | None, area: BaseGeometry | None, reason: str, refine: bool = False
    ) -> Localisation:
        point_ll = None if point is None else plane.to_lonlat(Point(*point))
        if point_ll is not None and refine:
            point_ll = Point(*_refine_on_ellipsoid(observations, point_ll.x, point_ll.y))
        l93 = None
        if point_ll is not None:
            x, y = Transformer.from_crs(crs(WGS84), crs(LAMBERT93), always_xy=True).transform(
                point_ll.x, point_ll.y
            )
            l93 = (float(x), float(y))
        return Localisation(
            point=point_ll,
            uncertainty=None if area is None else plane.to_lonlat(area),
            point_l93=l93,
            cones=[plane.to_lonlat(c) for c in cones],
            lines=[plane.to_lonlat(ln) for ln in lines],
            cameras=names,
            reason=reason,
        )

    if len(observations) == 1:
        return result(None, None, "single camera: bearing only")
    max_angle = max(
        abs((observations[i].bearing.azimuth_deg - observations[j].bearing.azimuth_deg + 180) % 360 - 180)
        for i in range(len(observations))
        for j in range(i + 1, len(observations))
    )
    if min(max_angle, 180 - max_angle) < min_angle_deg:
        return result(None, None, f"rays within {min_angle_deg:g}° of parallel: no reliable intersection")
    area = cones[0]
    for cone in cones[1:]:
        area = area.intersection(cone)
    if area.is_empty or area.area <= 0:
        return result(None, None, "cones do not intersect within range")
    point = _least_squares_point(origins, dirs)
    behind = [n for n, o, d in zip(names, origins, dirs, strict=True) if float(np.dot(point - o, d)) <= 0]
    if behind:
        return result(None, None, f"intersection lies behind camera(s) {behind}")
    refine = True
    if not area.buffer(1.0).contains(Point(*point)):
        # Cones overlap but the centre rays meet elsewhere: the overlap itself is the best estimate.
        point = np.array(area.representative_point().coords[0])
        refine = False
    # Several pieces (thin cones crossing twice): their hull is the uncertainty.
    polygon = area if isinstance(area, Polygon) else area.convex_hull
    return result(point, polygon, "triangulated", refine=refine)
