"""Pinhole camera pose from ground control points (GCPs), as CoastSnap stations solve it.

A station camera is a phone in a fixed cradle: its position is surveyed, its orientation and zoom change a
little from photo to photo. We model it with CoastSnap's parameters so their solutions can be read back:

- position (x, y, z) in metres in the station's local frame (world metres minus the station origin),
- azimuth: radians clockwise from +y (grid north) of the optical axis,
- tilt: radians from the nadir (0 looks straight down, pi/2 looks at the horizon),
- roll: radians of rotation about the optical axis,
- focal length in pixels (fx = fy), the principal point fixed at the image centre (a phone photo gives no
  information to move it), and optional OpenCV radial/tangential distortion (k1, k2, p1, p2, k3).

Pixels follow OpenCV: u grows to the right, v downwards, (0, 0) is the centre of the top-left pixel.
`solve_camera_pose` fits the free parameters by least squares on the GCP reprojection error (in pixels)
and refuses to run with fewer GCPs than that fit needs.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import cv2
import numpy as np
from scipy.optimize import least_squares

from vigie.errors import InvalidInputError

# Parameters `solve_camera_pose` may fit, in the order of its parameter vector.
FITTABLE = ("x", "y", "z", "azimuth", "tilt", "roll", "focal", "k1", "k2", "p1", "p2")
DEFAULT_FIT = ("azimuth", "tilt", "roll", "focal")
# Points whose undistorted normalised radius exceeds this are not projected: the polynomial lens model
# folds back on itself far outside the frame and would paint them inside the image.
MAX_NORMALISED_RADIUS = 2.5


@dataclass(frozen=True, slots=True)
class CameraModel:
    """A calibrated camera: image size, intrinsics, lens distortion and pose (see the module docstring)."""

    width: int
    height: int
    focal_px: float
    x: float
    y: float
    z: float
    azimuth_rad: float
    tilt_rad: float
    roll_rad: float
    cx: float | None = None  # principal point; None means the image centre
    cy: float | None = None
    distortion: tuple[float, float, float, float, float] = (0.0, 0.0, 0.0, 0.0, 0.0)  # k1, k2, p1, p2, k3

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"camera image size {self.width}x{self.height}: expected positive pixels")
        if not (math.isfinite(self.focal_px) and self.focal_px > 0):
            raise InvalidInputError(f"camera focal length {self.focal_px} px: expected a positive number")
        if len(self.distortion) != 5:
            raise InvalidInputError(f"camera distortion {self.distortion}: expected (k1, k2, p1, p2, k3)")

    @property
    def principal_point(self) -> tuple[float, float]:
        cx = (self.width - 1) / 2.0 if self.cx is None else self.cx
        cy = (self.height - 1) / 2.0 if self.cy is None else self.cy
        return cx, cy

    @property
    def hfov_deg(self) -> float:
        return math.degrees(2 * math.atan(self.width / 2.0 / self.focal_px))

    @property
    def position(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], dtype=float)

    @property
    def betas(self) -> np.ndarray:
        """CoastSnap's `betas`: x, y, z, azimuth, tilt, roll (metres, radians)."""
        return np.array([self.x, self.y, self.z, self.azimuth_rad, self.tilt_rad, self.roll_rad])

    def intrinsic_matrix(self) -> np.ndarray:
        cx, cy = self.principal_point
        return np.array([[self.focal_px, 0, cx], [0, self.focal_px, cy], [0, 0, 1]], dtype=float)

    def rotation(self) -> np.ndarray:
        """World → camera rotation in OpenCV axes (x right, y down, z forward along the optical axis)."""
        return rotation_from_angles(self.azimuth_rad, self.tilt_rad, self.roll_rad)

    def scaled(self, factor: float) -> CameraModel:
        """The same camera for the image resized by `factor` (focal length and principal point scale)."""
        cx, cy = self.principal_point
        return replace(
            self,
            width=max(1, round(self.width * factor)),
            height=max(1, round(self.height * factor)),
            focal_px=self.focal_px * factor,
            cx=(cx + 0.5) * factor - 0.5,
            cy=(cy + 0.5) * factor - 0.5,
        )

    def project(self, xyz: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World points (N, 3) in the local frame → pixels (N, 2) and a mask of points that land in front of
        the camera, within the lens model's valid range and inside the image."""
        pts = np.asarray(xyz, dtype=float).reshape(-1, 3)
        cam = (pts - self.position) @ self.rotation().T
        depth = cam[:, 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            radius = np.hypot(cam[:, 0], cam[:, 1]) / depth
        usable = (depth > 1e-6) & (radius < MAX_NORMALISED_RADIUS)
        uv = np.full((len(pts), 2), np.nan)
        if usable.any():
            rvec, _ = cv2.Rodrigues(self.rotation())
            tvec = -self.rotation() @ self.position
            projected, _ = cv2.projectPoints(
                pts[usable].reshape(-1, 1, 3),
                rvec,
                tvec,
                self.intrinsic_matrix(),
                np.asarray(self.distortion, dtype=float),
            )
            uv[usable] = projected.reshape(-1, 2)
        inside = (
            usable
            & (uv[:, 0] >= -0.5)
            & (uv[:, 0] <= self.width - 0.5)
            & (uv[:, 1] >= -0.5)
            & (uv[:, 1] <= self.height - 0.5)
        )
        return uv, inside

    def rays(self, uv: np.ndarray) -> np.ndarray:
        """Pixels (N, 2) → unit viewing directions (N, 3) in the world frame (lens distortion removed)."""
        pix = np.asarray(uv, dtype=float).reshape(-1, 1, 2)
        norm = cv2.undistortPoints(pix, self.intrinsic_matrix(), np.asarray(self.distortion, dtype=float))
        cam = np.concatenate([norm.reshape(-1, 2), np.ones((len(norm), 1))], axis=1)
        world = cam @ self.rotation()  # R^T applied to row vectors
        return world / np.linalg.norm(world, axis=1, keepdims=True)

    def pixel_to_plane(self, uv: np.ndarray, z_m: float) -> np.ndarray:
        """Pixels (N, 2) → points (N, 3) where their rays meet the horizontal plane at height `z_m`;
        NaN for rays that never reach it (above the horizon)."""
        d = self.rays(uv)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = (z_m - self.z) / d[:, 2]
        t = np.where(t > 0, t, np.nan)
        return self.position + d * t[:, None]


def rotation_from_angles(azimuth_rad: float, tilt_rad: float, roll_rad: float) -> np.ndarray:
    """World → camera rotation (OpenCV axes) from CoastSnap/CIRN azimuth, tilt and roll.

    The optical axis points at (sin t sin a, sin t cos a, -cos t) in world axes (x east, y north, z up); the
    image x axis is horizontal when roll is zero. Signs match CoastSnap's solutions (tested on their data)."""
    a, t, r = azimuth_rad, tilt_rad, roll_rad
    ca, sa, ct, st, cr, sr = math.cos(a), math.sin(a), math.cos(t), math.sin(t), math.cos(r), math.sin(r)
    # Rows of the Argus/CIRN rotation (image axes right and up); the up row is negated into OpenCV's down.
    right = np.array([ca * cr + sa * ct * sr, -cr * sa + sr * ct * ca, sr * st])
    down = -np.array([-sr * ca + cr * ct * sa, sr * sa + cr * ct * ca, cr * st])
    forward = np.array([st * sa, st * ca, -ct])
    return np.vstack([right, down, forward])


@dataclass(frozen=True, slots=True)
class PoseSolution:
    """A camera fitted to GCPs, with its reprojection error in pixels (per GCP and root mean square)."""

    camera: CameraModel
    rms_px: float
    residuals_px: np.ndarray  # (N,) distance between observed and reprojected GCPs
    fitted: tuple[str, ...]
    converged: bool
    gcp_names: tuple[str, ...] = field(default_factory=tuple)

    @property
    def max_residual_px(self) -> float:
        return float(np.max(self.residuals_px)) if len(self.residuals_px) else 0.0


def reprojection_residuals(camera: CameraModel, world_xyz: np.ndarray, image_uv: np.ndarray) -> np.ndarray:
    """Pixel distance between each observed GCP and its projection through `camera` (inf if not visible)."""
    uv, _ = camera.project(world_xyz)
    d = np.linalg.norm(uv - np.asarray(image_uv, dtype=float).reshape(-1, 2), axis=1)
    return np.where(np.isfinite(d), d, np.inf)


def _with_params(camera: CameraModel, names: Sequence[str], values: np.ndarray) -> CameraModel:
    changes: dict[str, object] = {}
    dist = list(camera.distortion)
    for name, value in zip(names, values, strict=True):
        v = float(value)
        if name in ("x", "y", "z"):
            changes[name] = v
        elif name in ("azimuth", "tilt", "roll"):
            changes[f"{name}_rad"] = v
        elif name == "focal":
            changes["focal_px"] = abs(v) if abs(v) > 1e-6 else 1e-6
        else:
            dist[("k1", "k2", "p1", "p2").index(name)] = v
    changes["distortion"] = tuple(dist)
    return replace(camera, **changes)


def _get_params(camera: CameraModel, names: Sequence[str]) -> np.ndarray:
    out = []
    for name in names:
        if name in ("x", "y", "z"):
            out.append(getattr(camera, name))
        elif name in ("azimuth", "tilt", "roll"):
            out.append(getattr(camera, f"{name}_rad"))
        elif name == "focal":
            out.append(camera.focal_px)
        else:
            out.append(camera.distortion[("k1", "k2", "p1", "p2").index(name)])
    return np.array(out, dtype=float)


def min_gcps(fit: Sequence[str]) -> int:
    """GCPs needed to fit `fit`: each gives two equations, and one more pair is required so that the
    residual (the RMS we report as quality) is not zero by construction."""
    return max(3, math.ceil(len(fit) / 2) + 1)


def solve_camera_pose(
    world_xyz: np.ndarray,
    image_uv: np.ndarray,
    initial: CameraModel,
    *,
    fit: Sequence[str] = DEFAULT_FIT,
    gcp_names: Sequence[str] = (),
) -> PoseSolution:
    """Fit the parameters named in `fit` (see `FITTABLE`) of `initial` to GCPs.

    `world_xyz` (N, 3) are in the station's local frame (metres), `image_uv` (N, 2) the pixels where the
    GCPs were seen in an image of `initial.width` × `initial.height`. Raises InvalidInputError for fewer
    GCPs than `min_gcps(fit)`, mismatched arrays, unknown parameter names or non-finite values."""
    xyz = np.asarray(world_xyz, dtype=float)
    uv = np.asarray(image_uv, dtype=float)
    if xyz.ndim != 2 or xyz.shape[1] != 3:
        raise InvalidInputError(
            f"GCP world coordinates: expected an (N, 3) array of x, y, z, got {xyz.shape}"
        )
    if uv.ndim != 2 or uv.shape[1] != 2 or len(uv) != len(xyz):
        raise InvalidInputError(
            f"GCP pixels: expected ({len(xyz)}, 2) u, v values matching the world points, got {uv.shape}"
        )
    if not (np.isfinite(xyz).all() and np.isfinite(uv).all()):
        raise InvalidInputError("GCP coordinates must be finite numbers")
    unknown = [n for n in fit if n not in FITTABLE]
    if unknown or not fit:
        raise InvalidInputError(
            f"camera parameters to fit {list(fit)}: expected a non-empty subset of {FITTABLE}"
        )
    needed = min_gcps(fit)
    if len(xyz) < needed:
        raise InvalidInputError(
            f"{len(xyz)} GCPs given; fitting {', '.join(fit)} needs at least {needed} GCPs"
        )
    names = tuple(fit)
    start = _get_params(initial, names)

    def residuals(values: np.ndarray) -> np.ndarray:
        cam = _with_params(initial, names, values)
        projected, _ = cam.project(xyz)
        diff = (projected - uv).ravel()
        # Points pushed behind the camera get a large finite penalty so the solver can walk back.
        return np.where(np.isfinite(diff), diff, 1e4)

    # Scales make one step of each parameter move pixels comparably (radians vs hundreds of pixels).
    scale = np.array(
        [
            1.0
            if n in ("x", "y", "z")
            else 0.01
            if n in ("azimuth", "tilt", "roll")
            else 50.0
            if n == "focal"
            else 0.01
            for n in names
        ]
    )
    result = least_squares(
        residuals,
        start,
        x_scale=scale,
        method="lm" if 2 * len(xyz) >= len(names) else "trf",
        xtol=1e-12,
        ftol=1e-12,
        max_nfev=2000,
    )
    camera = _with_params(initial, names, result.x)
    res = reprojection_residuals(camera, xyz, uv)
    rms = float(np.sqrt(np.mean(res**2))) if np.isfinite(res).all() else math.inf
    return PoseSolution(
        camera=camera,
        rms_px=rms,
        residuals_px=res,
        fitted=names,
        converged=bool(result.success),
        gcp_names=tuple(gcp_names),
    )
