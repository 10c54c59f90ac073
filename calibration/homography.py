"""Road-plane homography: image pixels ⇄ metres on a flat road, from four or more surveyed points.

World coordinates are metres in any local planar frame (e.g. Lambert-93 easting/northing, or metres
measured along and across the road). The fit is `cv2.findHomography` (least squares on all points; with
RANSAC when asked); its quality is reported as the reprojection error in metres on the road and in pixels,
so that a mistyped point shows up before any speed is computed. Pure geometry, no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from vigie.errors import InvalidInputError


def _points(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise InvalidInputError(
            f"homography {name}: expected an (N, 2) list of points, got shape {arr.shape}"
        )
    if not np.isfinite(arr).all():
        raise InvalidInputError(f"homography {name}: points must be finite numbers")
    return arr


@dataclass(frozen=True, slots=True)
class RoadHomography:
    """`matrix` maps image pixels (x right, y down) to road-plane metres; `inverse` the other way."""

    matrix: np.ndarray
    inverse: np.ndarray
    rms_error_m: float  # reprojection error of the fitting points on the road plane
    max_error_m: float
    rms_error_px: float  # the same, projected back into the image
    n_points: int

    def to_world(self, pixels: object) -> np.ndarray:
        """(N, 2) pixels → (N, 2) metres. Points at or above the horizon have no road position: refused."""
        pts = _points("pixels", pixels)
        return _apply(self.matrix, pts, what="pixel")

    def to_image(self, world: object) -> np.ndarray:
        """(N, 2) metres → (N, 2) pixels."""
        return _apply(self.inverse, _points("world points", world), what="world point")


def _apply(matrix: np.ndarray, pts: np.ndarray, *, what: str) -> np.ndarray:
    homogeneous = np.column_stack([pts, np.ones(len(pts))]) @ matrix.T
    w = homogeneous[:, 2]
    if np.any(np.abs(w) < 1e-12) or np.any(w < 0):
        bad = pts[(np.abs(w) < 1e-12) | (w < 0)][0]
        raise InvalidInputError(
            f"{what} ({bad[0]:g}, {bad[1]:g}) is on or beyond the horizon of the road plane: no position"
        )
    return homogeneous[:, :2] / w[:, None]


def fit_homography(
    image_points: object, world_points: object, *, ransac_m: float | None = None
) -> RoadHomography:
    """Fit the road-plane homography from ≥ 4 (pixel, metre) correspondences, not all on one line.

    With `ransac_m`, points whose road position misses by more than that many metres are outliers.
    """
    img = _points("image points", image_points)
    world = _points("world points", world_points)
    if len(img) != len(world):
        raise InvalidInputError(f"homography: {len(img)} image points for {len(world)} world points")
    if len(img) < 4:
        raise InvalidInputError(f"homography: got {len(img)} point pairs; expected at least 4")
    if _degenerate(img) or _degenerate(world):
        raise InvalidInputError("homography: the points are (nearly) collinear; spread them over the road")
    method = cv2.RANSAC if ransac_m is not None else 0
    matrix, _ = cv2.findHomography(img, world, method, ransac_m if ransac_m is not None else 3.0)
    if matrix is None:
        raise InvalidInputError("homography: OpenCV found no solution for these points")
    inverse = np.linalg.inv(matrix)
    world_fit = _apply(matrix, img, what="image point")
    err_m = np.linalg.norm(world_fit - world, axis=1)
    img_fit = _apply(inverse, world, what="world point")
    err_px = np.linalg.norm(img_fit - img, axis=1)
    return RoadHomography(
        matrix=matrix,
        inverse=inverse,
        rms_error_m=float(math.sqrt(np.mean(err_m**2))),
        max_error_m=float(err_m.max()),
        rms_error_px=float(math.sqrt(np.mean(err_px**2))),
        n_points=len(img),
    )


def _degenerate(pts: np.ndarray) -> bool:
    """True when the points span (almost) no area: every triangle is tiny relative to the spread."""
    centred = pts - pts.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    return bool(singular[0] == 0 or singular[-1] / singular[0] < 1e-3)
