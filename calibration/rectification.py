"""Rectification: project an oblique photo onto a horizontal world grid at the water level (a plan image).

The grid is CoastSnap's: `x` and `y` in metres in the station's local frame, `resolution_m` apart; row i of
the plan image is `y[i]` (y grows with the row index, so display it flipped to have north up) and column j
is `x[j]`. Every grid node (x, y, z_m) is projected through the camera and the photo is sampled there
(bilinear); nodes behind the camera, beyond the horizon or outside the photo are marked invalid (black).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from vigie.calibration.camera_pose import CameraModel
from vigie.errors import InvalidInputError

MAX_GRID_NODES = 25_000_000  # ~ a 5 km × 5 km grid at 1 m: beyond that the caller has a unit mistake


@dataclass(frozen=True, slots=True)
class PlanGrid:
    """A horizontal world grid in the station's local frame (metres)."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    resolution_m: float

    def __post_init__(self) -> None:
        if not self.resolution_m > 0:
            raise InvalidInputError(f"plan grid resolution {self.resolution_m} m: expected a positive number")
        if not (self.x_max > self.x_min and self.y_max > self.y_min):
            raise InvalidInputError(
                f"plan grid x [{self.x_min}, {self.x_max}], y [{self.y_min}, {self.y_max}]: "
                "expected min < max"
            )
        if self.shape[0] * self.shape[1] > MAX_GRID_NODES:
            raise InvalidInputError(
                f"plan grid of {self.shape[1]}x{self.shape[0]} nodes is too large "
                f"(over {MAX_GRID_NODES}); check the units (metres) and the resolution"
            )

    @property
    def x(self) -> np.ndarray:
        return self.x_min + self.resolution_m * np.arange(self.shape[1])

    @property
    def y(self) -> np.ndarray:
        return self.y_min + self.resolution_m * np.arange(self.shape[0])

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns) of the plan image, both ends of each axis included."""
        rows = round((self.y_max - self.y_min) / self.resolution_m) + 1
        cols = round((self.x_max - self.x_min) / self.resolution_m) + 1
        return rows, cols

    def mesh(self) -> tuple[np.ndarray, np.ndarray]:
        """X and Y arrays of the plan image's shape (CoastSnap's `X`, `Y`)."""
        return np.meshgrid(self.x, self.y)

    def world_to_pixel(self, xy: np.ndarray) -> np.ndarray:
        """Local (x, y) metres (N, 2) → fractional plan-image (column, row)."""
        pts = np.asarray(xy, dtype=float).reshape(-1, 2)
        return np.stack(
            [(pts[:, 0] - self.x_min) / self.resolution_m, (pts[:, 1] - self.y_min) / self.resolution_m],
            axis=1,
        )

    def pixel_to_world(self, col_row: np.ndarray) -> np.ndarray:
        pts = np.asarray(col_row, dtype=float).reshape(-1, 2)
        return np.stack(
            [self.x_min + pts[:, 0] * self.resolution_m, self.y_min + pts[:, 1] * self.resolution_m], axis=1
        )


@dataclass(frozen=True, slots=True)
class PlanImage:
    """A rectified photo: `image` (rows, cols, 3) BGR uint8 on `grid` at height `z_m`; `valid` marks the
    nodes the photo saw."""

    image: np.ndarray
    valid: np.ndarray
    grid: PlanGrid
    z_m: float

    def north_up(self) -> np.ndarray:
        """The plan image flipped for display (first row = largest y)."""
        return self.image[::-1]


def plan_sampling_maps(camera: CameraModel, grid: PlanGrid, z_m: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel coordinates (map_u, map_v, float32, shape of the grid) of every grid node at height z_m, NaN
    where the node is not seen; reusable for several photos taken with the same camera."""
    if not np.isfinite(z_m):
        raise InvalidInputError(f"rectification height z_m={z_m}: expected a finite water level in metres")
    if z_m >= camera.z:
        raise InvalidInputError(f"rectification height {z_m} m is not below the camera ({camera.z} m)")
    gx, gy = grid.mesh()
    xyz = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, float(z_m))], axis=1)
    uv, inside = camera.project(xyz)
    uv[~inside] = np.nan
    rows, cols = grid.shape
    return uv[:, 0].reshape(rows, cols).astype(np.float32), uv[:, 1].reshape(rows, cols).astype(np.float32)


def rectify(image: np.ndarray, camera: CameraModel, grid: PlanGrid, z_m: float) -> PlanImage:
    """Project `image` (H, W, 3 or H, W) taken by `camera` onto `grid` at height `z_m` (metres, local)."""
    if image is None or image.ndim not in (2, 3) or image.size == 0:
        raise InvalidInputError("rectify: expected a non-empty image array")
    h, w = image.shape[:2]
    if (w, h) != (camera.width, camera.height):
        raise InvalidInputError(
            f"rectify: image is {w}x{h} but the camera was solved for "
            f"{camera.width}x{camera.height}; scale the camera with camera.scaled()"
        )
    map_u, map_v = plan_sampling_maps(camera, grid, z_m)
    valid = np.isfinite(map_u)
    map_u = np.where(valid, map_u, -1.0).astype(np.float32)
    map_v = np.where(valid, map_v, -1.0).astype(np.float32)
    plan = cv2.remap(
        image, map_u, map_v, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )
    plan[~valid] = 0
    return PlanImage(image=plan, valid=valid, grid=grid, z_m=float(z_m))


def image_to_world(uv: np.ndarray, camera: CameraModel, z_m: float) -> np.ndarray:
    """Pixels (N, 2) → local world (N, 2) x, y on the plane at height `z_m` (NaN above the horizon)."""
    return camera.pixel_to_plane(uv, z_m)[:, :2]


def world_to_image(xyz: np.ndarray, camera: CameraModel) -> tuple[np.ndarray, np.ndarray]:
    """Local world points (N, 3) → pixels (N, 2) and a visibility mask."""
    return camera.project(xyz)
