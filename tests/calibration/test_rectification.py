"""Rectification onto a world grid: round trips between pixels and the water plane."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie.calibration.camera_pose import CameraModel
from vigie.calibration.rectification import PlanGrid, image_to_world, rectify, world_to_image
from vigie.errors import InvalidInputError

CAMERA = CameraModel(
    640,
    480,
    520.0,
    0.0,
    0.0,
    15.0,
    math.radians(10),
    math.radians(72),
    math.radians(-1),
    distortion=(-0.05, 0.0, 0.0, 0.0, 0.0),
)


def test_pixel_to_plane_round_trip() -> None:
    rng = np.random.default_rng(0)
    uv = np.stack([rng.uniform(0, 639, 50), rng.uniform(250, 479, 50)], axis=1)  # below the horizon
    xy = image_to_world(uv, CAMERA, 0.3)
    assert np.isfinite(xy).all()
    back, seen = world_to_image(np.column_stack([xy, np.full(50, 0.3)]), CAMERA)
    assert seen.all()
    assert np.abs(back - uv).max() < 1e-3


def test_sky_pixels_never_reach_the_water() -> None:
    xy = image_to_world(np.array([[320.0, 0.0]]), CAMERA, 0.0)
    assert np.isnan(xy).all()


def test_rectified_checkerboard_lands_where_it_was_painted() -> None:
    grid = PlanGrid(-40, 60, 10, 200, 0.5)
    # Paint a synthetic photo: each pixel's colour encodes the world cell it sees.
    v, u = np.mgrid[0:480, 0:640]
    xy = image_to_world(np.stack([u.ravel(), v.ravel()], 1).astype(float), CAMERA, 0.0)
    photo = np.zeros((480, 640, 3), np.uint8)
    ok = np.isfinite(xy).all(axis=1)
    cells = ((np.floor(xy[ok, 0] / 10) + np.floor(xy[ok, 1] / 10)) % 2).astype(np.uint8) * 200 + 30
    photo.reshape(-1, 3)[ok] = cells[:, None]
    plan = rectify(photo, CAMERA, grid, 0.0)
    gx, gy = grid.mesh()
    expected = ((np.floor(gx / 10) + np.floor(gy / 10)) % 2) * 200 + 30
    # Away from cell edges and from the far field (where one photo pixel spans several cells), every seen
    # node has its cell's colour.
    interior = (
        plan.valid
        & (np.hypot(gx, gy) < 90)
        & (np.abs(gx / 10 - np.round(gx / 10)) > 0.1)
        & (np.abs(gy / 10 - np.round(gy / 10)) > 0.1)
    )
    assert interior.sum() > 1000
    agree = np.abs(plan.image[..., 0][interior].astype(int) - expected[interior]) < 40
    assert agree.mean() > 0.98
    assert not plan.valid[0, 0] or plan.image[0, 0].any()  # invalid nodes stay black


def test_grid_geometry() -> None:
    grid = PlanGrid(-400, 100, 0, 600, 0.5)
    assert grid.shape == (1201, 1001)
    assert grid.x[0] == -400 and grid.x[-1] == 100 and grid.y[-1] == 600
    assert np.allclose(grid.pixel_to_world(grid.world_to_pixel(np.array([[12.3, 45.6]]))), [[12.3, 45.6]])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0, 10, 0, 10, 0), "resolution"),
        ((10, 0, 0, 10, 1), "min < max"),
        ((0, 1e5, 0, 1e5, 0.5), "too large"),
    ],
)
def test_grid_refuses_bad_values(args: tuple, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        PlanGrid(*args)


def test_rectify_refuses_a_water_level_above_the_camera_and_wrong_sizes() -> None:
    grid = PlanGrid(0, 10, 10, 20, 1)
    photo = np.zeros((480, 640, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="not below the camera"):
        rectify(photo, CAMERA, grid, 20.0)
    with pytest.raises(InvalidInputError, match="finite"):
        rectify(photo, CAMERA, grid, float("nan"))
    with pytest.raises(InvalidInputError, match="scaled"):
        rectify(np.zeros((240, 320, 3), np.uint8), CAMERA, grid, 0.0)
