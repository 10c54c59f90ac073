"""Pixel → azimuth for a fixed or PTZ lookout camera, with the pinhole model.

Conventions: azimuth in degrees clockwise from true north in [0, 360); `heading_deg` is the azimuth of
the optical axis (image centre); `tilt_deg` is positive when the camera looks above the horizon; `roll_deg`
is positive when the image is rotated clockwise as seen by the camera. Pixel x grows to the right, y down.
The focal length in pixels follows from the horizontal field of view: f = (W/2) / tan(hfov/2). With no tilt
and roll, the azimuth of column x is heading + atan((x - cx) / f) — not a linear mapping of x to angle,
which is off by up to several degrees at the edges of a wide lens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from vigie.errors import InvalidInputError


def wrap_deg(angle: float | np.ndarray) -> float | np.ndarray:
    """Angle(s) in [0, 360)."""
    wrapped = np.mod(angle, 360.0)
    # np.mod(-1e-15, 360) is 360.0 in floating point: fold it back to 0.
    wrapped = np.where(wrapped >= 360.0, 0.0, wrapped)
    return float(wrapped) if np.ndim(wrapped) == 0 else wrapped


def angle_diff_deg(a: float, b: float) -> float:
    """Signed smallest difference a - b in (-180, 180]."""
    d = (a - b + 180.0) % 360.0 - 180.0
    return 180.0 if d == -180.0 else d


@dataclass(frozen=True, slots=True)
class CameraView:
    """Where a camera looks: orientation and field of view, for an image of `width` × `height` pixels."""

    heading_deg: float
    hfov_deg: float
    width: int
    height: int
    tilt_deg: float = 0.0
    roll_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.heading_deg is None or not math.isfinite(self.heading_deg):
            raise InvalidInputError("camera heading is unknown: a bearing needs heading_deg (0-360)")
        if not 0 < self.hfov_deg < 180:
            raise InvalidInputError(f"hfov_deg {self.hfov_deg}: expected 0 < hfov < 180 for a pinhole camera")
        if self.width <= 0 or self.height <= 0:
            raise InvalidInputError(f"image size {self.width}×{self.height}: expected positive pixels")
        if not -90 < self.tilt_deg < 90:
            raise InvalidInputError(f"tilt_deg {self.tilt_deg}: expected -90 < tilt < 90")

    @property
    def focal_px(self) -> float:
        return (self.width / 2.0) / math.tan(math.radians(self.hfov_deg) / 2.0)

    def _rotation(self) -> np.ndarray:
        """Camera frame (x right, y down, z forward) → local East-North-Up."""
        h, t, r = (math.radians(v) for v in (self.heading_deg, self.tilt_deg, self.roll_deg))
        # Level camera looking north: right = east, down = -up, forward = north.
        base = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
        roll = np.array([[math.cos(r), -math.sin(r), 0.0], [math.sin(r), math.cos(r), 0.0], [0.0, 0.0, 1.0]])
        # Tilt up: rotate about the east axis (ENU x) by +t.
        tilt = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(t), -math.sin(t)], [0.0, math.sin(t), math.cos(t)]])
        # Heading: rotate clockwise (seen from above) about up by h.
        yaw = np.array([[math.cos(h), math.sin(h), 0.0], [-math.sin(h), math.cos(h), 0.0], [0.0, 0.0, 1.0]])
        return yaw @ tilt @ base @ roll

    def ray_enu(self, x: np.ndarray | float, y: np.ndarray | float) -> np.ndarray:
        """Unit direction(s) in East-North-Up of the ray through pixel(s) (x, y); shape (..., 3)."""
        x_a, y_a = np.broadcast_arrays(np.asarray(x, float), np.asarray(y, float))
        f = self.focal_px
        cam = np.stack(
            [(x_a - self.width / 2.0) / f, (y_a - self.height / 2.0) / f, np.ones(x_a.shape)], axis=-1
        )
        enu = cam @ self._rotation().T
        return enu / np.linalg.norm(enu, axis=-1, keepdims=True)

    def azimuth_deg(self, x: np.ndarray | float, y: np.ndarray | float | None = None) -> float | np.ndarray:
        """Azimuth of the ray through pixel (x, y); y defaults to the image's middle row."""
        ray = self.ray_enu(x, self.height / 2.0 if y is None else y)
        return wrap_deg(np.degrees(np.arctan2(ray[..., 0], ray[..., 1])))

    def elevation_deg(self, x: np.ndarray | float, y: np.ndarray | float) -> float | np.ndarray:
        ray = self.ray_enu(x, y)
        result = np.degrees(np.arcsin(np.clip(ray[..., 2], -1.0, 1.0)))
        return float(result) if np.ndim(result) == 0 else result


@dataclass(frozen=True, slots=True)
class Bearing:
    """The direction of a detection from a camera: the box centre's azimuth and the cone of its edges."""

    azimuth_deg: float
    left_deg: float
    right_deg: float

    @property
    def width_deg(self) -> float:
        return (self.right_deg - self.left_deg) % 360.0

    def contains(self, azimuth_deg: float) -> bool:
        return (azimuth_deg - self.left_deg) % 360.0 <= self.width_deg


def box_bearing(view: CameraView, xyxy: tuple[float, float, float, float] | np.ndarray) -> Bearing:
    """Bearing of a box: centre azimuth and the cone between its left and right edges.

    Edges are taken at the box's bottom row (where a plume meets the ground, the best estimate of where
    the fire is); the centre at the bottom-centre of the box for the same reason.
    """
    x1, _y1, x2, y2 = (float(v) for v in xyxy)
    if not (x2 >= x1):
        raise InvalidInputError(f"box {tuple(xyxy)}: expected x2 >= x1")
    az = view.azimuth_deg(np.array([x1, (x1 + x2) / 2.0, x2]), np.array([y2, y2, y2]))
    left, centre, right = (float(a) for a in az)
    return Bearing(azimuth_deg=centre, left_deg=left, right_deg=right)
