"""Pinhole bearings: exact against hand-computed angles, correct across north (0/360°)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie.calibration.bearing import CameraView, angle_diff_deg, box_bearing, wrap_deg
from vigie.errors import InvalidInputError


def test_centre_pixel_looks_along_the_heading() -> None:
    view = CameraView(heading_deg=123.0, hfov_deg=60, width=1920, height=1080)
    assert view.azimuth_deg(960) == pytest.approx(123.0)


def test_image_edges_are_half_the_field_of_view_away() -> None:
    view = CameraView(heading_deg=90.0, hfov_deg=60, width=1920, height=1080)
    assert view.azimuth_deg(0) == pytest.approx(60.0)
    assert view.azimuth_deg(1920) == pytest.approx(120.0)


def test_pinhole_is_not_linear_in_x() -> None:
    view = CameraView(heading_deg=0.0, hfov_deg=90, width=1000, height=500)
    # Quarter of the width right of centre: atan(0.5 * tan(45°)) = 26.565°, not the linear 22.5°.
    assert view.azimuth_deg(750) == pytest.approx(math.degrees(math.atan(0.5)))


@pytest.mark.parametrize(
    ("heading", "x", "expected"),
    [(0.0, 0, 330.0), (350.0, 1920, 20.0), (359.0, 960, 359.0), (10.0, 0, 340.0), (330.0, 1920, 0.0)],
)
def test_wrap_around_north(heading: float, x: float, expected: float) -> None:
    view = CameraView(heading_deg=heading, hfov_deg=60, width=1920, height=1080)
    az = view.azimuth_deg(x)
    assert 0.0 <= az < 360.0
    assert abs(angle_diff_deg(az, expected)) < 1e-9


def test_cone_straddling_north() -> None:
    view = CameraView(heading_deg=355.0, hfov_deg=60, width=1920, height=1080)
    bearing = box_bearing(view, (800, 400, 1200, 600))
    assert bearing.left_deg > 300 and bearing.right_deg < 60
    assert bearing.contains(0.0) and bearing.contains(bearing.azimuth_deg)
    assert not bearing.contains(180.0)
    assert 0 < bearing.width_deg < 60


def test_tilt_moves_azimuth_off_centre_rows_but_not_the_centre_column() -> None:
    level = CameraView(heading_deg=45.0, hfov_deg=60, width=1920, height=1080)
    tilted = CameraView(heading_deg=45.0, hfov_deg=60, width=1920, height=1080, tilt_deg=-20.0)
    assert tilted.azimuth_deg(960, 1000) == pytest.approx(45.0)
    # Looking down, a pixel right of centre at the bottom row is further from the heading than level.
    assert abs(angle_diff_deg(tilted.azimuth_deg(1800, 1000), 45.0)) != pytest.approx(
        abs(angle_diff_deg(level.azimuth_deg(1800, 1000), 45.0))
    )
    assert tilted.elevation_deg(960, 540) == pytest.approx(-20.0)


def test_roll_rotates_the_image() -> None:
    view = CameraView(heading_deg=0.0, hfov_deg=60, width=1000, height=1000, roll_deg=90.0)
    # Rolled 90° clockwise: the image's right edge now points down, its top points right (east).
    assert view.elevation_deg(1000, 500) == pytest.approx(-30.0)
    assert view.azimuth_deg(500, 0) == pytest.approx(30.0)


def test_vectorised() -> None:
    view = CameraView(heading_deg=180.0, hfov_deg=60, width=1920, height=1080)
    az = view.azimuth_deg(np.array([0, 960, 1920]))
    assert np.allclose(az, [150.0, 180.0, 210.0])


@pytest.mark.parametrize(
    "kwargs",
    [dict(heading_deg=float("nan")), dict(hfov_deg=0), dict(hfov_deg=180), dict(width=0), dict(tilt_deg=90)],
)
def test_bad_geometry_is_refused(kwargs: dict) -> None:
    base = dict(heading_deg=10.0, hfov_deg=60, width=640, height=480)
    with pytest.raises(InvalidInputError):
        CameraView(**{**base, **kwargs})


def test_wrap_helpers() -> None:
    assert wrap_deg(-10.0) == 350.0 and wrap_deg(360.0) == 0.0 and wrap_deg(-1e-15) == 0.0
    assert angle_diff_deg(5.0, 355.0) == pytest.approx(10.0)
    assert angle_diff_deg(355.0, 5.0) == pytest.approx(-10.0)
