"""What the fire pipeline knows of each camera's geometry, and the bearing of a box from it."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigie.calibration.bearing import Bearing, CameraView, box_bearing


@dataclass(frozen=True, slots=True)
class CameraPoseGeometry:
    heading_deg: float
    hfov_deg: float | None = None
    tilt_deg: float | None = None


@dataclass(frozen=True, slots=True)
class CameraGeometry:
    """Position and orientation of one lookout camera (WGS84 degrees; angles clockwise from true north)."""

    camera_id: int
    slug: str
    site_id: int
    name: str = ""
    longitude: float | None = None
    latitude: float | None = None
    heading_deg: float | None = None
    hfov_deg: float | None = None
    tilt_deg: float = 0.0
    calibration_version: str | None = None
    poses: dict[str, CameraPoseGeometry] = field(default_factory=dict)

    @property
    def located(self) -> bool:
        return self.longitude is not None and self.latitude is not None

    def missing(self, pose: str | None = None) -> str | None:
        """Why no bearing can be computed (None when one can)."""
        if pose is not None and pose not in self.poses:
            # A preset this camera does not know: its heading would be a guess, and so would the bearing.
            return "unknown pose"
        heading = self.poses[pose].heading_deg if pose in self.poses else self.heading_deg
        if heading is None:
            return "no heading"
        if self.hfov_deg is None and (pose not in self.poses or self.poses[pose].hfov_deg is None):
            return "no field of view"
        return None

    def view(self, width: int, height: int, pose: str | None = None) -> CameraView | None:
        """The pinhole view for a frame of this size (at PTZ preset `pose` if known); None without heading."""
        if self.missing(pose) is not None:
            return None
        p = self.poses.get(pose) if pose is not None else None
        heading = p.heading_deg if p is not None else self.heading_deg
        hfov = (p.hfov_deg if p is not None and p.hfov_deg is not None else None) or self.hfov_deg
        tilt = p.tilt_deg if p is not None and p.tilt_deg is not None else self.tilt_deg
        return CameraView(
            heading_deg=float(heading), hfov_deg=float(hfov), width=width, height=height, tilt_deg=float(tilt)
        )

    def bearing(
        self, xyxy: tuple[float, float, float, float], width: int, height: int, pose: str | None = None
    ) -> Bearing | None:
        view = self.view(width, height, pose)
        return None if view is None else box_bearing(view, xyxy)
