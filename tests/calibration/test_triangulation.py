"""Cone intersection: recover a known fire position, and refuse bad geometry with a reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pyproj import Geod

from vigie.calibration.bearing import Bearing
from vigie.calibration.crs import to_projected
from vigie.calibration.triangulation import Observation, localise
from vigie.errors import InvalidInputError

GEOD = Geod(ellps="WGS84")
FIRE = (0.20, 47.95)  # a forest south of Le Mans (Sarthe)


def observe(name: str, lon: float, lat: float, target=FIRE, half_width_deg: float = 1.0) -> Observation:
    az, _, _ = GEOD.inv(lon, lat, *target)
    az %= 360
    return Observation(name, lon, lat, Bearing(az, (az - half_width_deg) % 360, (az + half_width_deg) % 360))


def test_two_cameras_recover_the_fire_within_metres() -> None:
    loc = localise([observe("mont-1", 0.05, 48.05), observe("mont-2", 0.40, 48.02)])
    assert loc.located and loc.reason == "triangulated"
    _, _, dist = GEOD.inv(loc.point.x, loc.point.y, *FIRE)
    assert dist < 1  # refined along geodesics: exact up to numerical precision
    assert loc.uncertainty.contains(loc.point)
    x, y = to_projected(*FIRE)
    assert math.hypot(loc.point_l93[0] - float(x), loc.point_l93[1] - float(y)) < 1


def test_three_cameras_shrink_the_uncertainty() -> None:
    two = localise([observe("a", 0.05, 48.05), observe("b", 0.40, 48.02)])
    three = localise([observe("a", 0.05, 48.05), observe("b", 0.40, 48.02), observe("c", 0.22, 47.80)])
    assert three.located
    assert three.uncertainty.area < two.uncertainty.area


def test_bearings_across_north_are_handled() -> None:
    # Both cameras south of the fire, one looking just west of north, one just east.
    target = (0.20, 48.20)
    loc = localise([observe("w", 0.17, 48.00, target), observe("e", 0.23, 48.00, target)])
    assert loc.located
    assert GEOD.inv(loc.point.x, loc.point.y, *target)[2] < 50


def test_single_camera_gives_a_bearing_line_only() -> None:
    loc = localise([observe("solo", 0.05, 48.05)], max_range_m=15_000)
    assert not loc.located and loc.reason.startswith("single camera")
    (line,) = loc.lines
    _, _, length = GEOD.inv(*line.coords[0], *line.coords[-1])
    assert length == pytest.approx(15_000, rel=0.01)


def test_parallel_rays_give_no_location() -> None:
    a = Observation("a", 0.00, 48.00, Bearing(90.0, 89.5, 90.5))
    b = Observation("b", 0.00, 48.05, Bearing(91.0, 90.5, 91.5))
    loc = localise([a, b])
    assert not loc.located and "parallel" in loc.reason


def test_diverging_cones_never_intersect() -> None:
    a = Observation("a", 0.00, 48.00, Bearing(300.0, 299.0, 301.0))
    b = Observation("b", 0.10, 48.00, Bearing(60.0, 59.0, 61.0))
    loc = localise([a, b])
    assert not loc.located and "do not intersect" in loc.reason


def test_intersection_behind_the_cameras_is_refused() -> None:
    # Rays pointing away from each other's lines: the infinite lines cross behind both cameras.
    a = Observation("a", 0.00, 48.00, Bearing(225.0, 224.0, 226.0))
    b = Observation("b", 0.10, 48.00, Bearing(135.0, 134.0, 136.0))
    loc = localise([a, b])
    assert not loc.located


def test_out_of_range_fire_is_not_located() -> None:
    far = (0.20, 49.00)  # > 100 km away
    loc = localise([observe("a", 0.05, 48.05, far), observe("b", 0.40, 48.02, far)], max_range_m=20_000)
    assert not loc.located


@pytest.mark.parametrize(
    "obs",
    [
        [],
        [Observation("x", 652_000.0, 6_861_000.0, Bearing(0, 359, 1))],
        [Observation("x", 0, 48, Bearing(0, 359, 1)), Observation("x", 0.1, 48, Bearing(0, 359, 1))],
    ],
)
def test_bad_observations_are_refused(obs) -> None:
    with pytest.raises(InvalidInputError):
        localise(obs)


def test_cones_are_returned_in_lonlat() -> None:
    loc = localise([observe("a", 0.05, 48.05), observe("b", 0.40, 48.02)])
    for cone in loc.cones:
        lon, lat = np.array(cone.exterior.coords).T
        assert (np.abs(lon) < 2).all() and (np.abs(lat - 48) < 1).all()
