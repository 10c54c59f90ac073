"""One citizen photo → a georeferenced shoreline, or a flag saying why not.

quality (size, darkness, blur, orientation) → water level present → registration to the station's
reference image(s) → camera pose from the carried GCPs (reprojection RMS) → rectification at the water
level → red-minus-blue/Otsu extraction along the transects. Every stage that fails returns the result so
far with `status="flagged"` and a `reason` a volunteer coordinator can read; nothing here touches the
database (S-report stores `ShorelineResult`s).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from vigie.calibration import crs as crs_mod
from vigie.calibration.camera_pose import DEFAULT_FIT, PoseSolution, min_gcps, solve_camera_pose
from vigie.calibration.rectification import PlanImage, rectify
from vigie.pipelines.shoreline.extraction import ExtractionConfig, Shoreline, extract_shoreline
from vigie.pipelines.shoreline.quality import QualityReport, assess_quality
from vigie.pipelines.shoreline.registration import (
    ReferenceFeatures,
    Registration,
    RegistrationConfig,
    prepare_reference,
    register_photo,
)
from vigie.pipelines.shoreline.station import StationGeometry

__all__ = [
    "PreparedStation",
    "ProcessConfig",
    "ShorelineResult",
    "StationGeometry",
    "prepare_station",
    "process_photo",
    "result_to_geojson",
]

METHOD_PREFIX = "colour"  # classical colour-channel extraction; the suffix names the variant


@dataclass(frozen=True, slots=True)
class ProcessConfig:
    # A pose whose GCP RMS exceeds this share of the photo diagonal is flagged: registration went wrong.
    max_rms_fraction_of_diagonal: float = 0.01
    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)


@dataclass(frozen=True, slots=True)
class PreparedStation:
    """A station with its reference keypoints computed once (about a second per reference)."""

    station: StationGeometry
    references: tuple[ReferenceFeatures, ...]


def prepare_station(station: StationGeometry, config: ProcessConfig | None = None) -> PreparedStation:
    config = config or ProcessConfig()
    return PreparedStation(
        station=station,
        references=tuple(prepare_reference(r, config.registration) for r in station.references),
    )


@dataclass(frozen=True, slots=True)
class ShorelineResult:
    status: Literal["ok", "flagged"]
    reason: str | None
    station: str
    epsg: int
    water_level_m: float | None
    quality: QualityReport
    registration: Registration | None = None
    pose: PoseSolution | None = None
    plan: PlanImage | None = None
    shoreline: Shoreline | None = None
    seconds: float = 0.0
    method: str = ""

    @property
    def reprojection_rms_px(self) -> float | None:
        """The pose's GCP RMS; None without a pose or when the fit diverged (NaN/inf are not JSON)."""
        if self.pose is None or not math.isfinite(self.pose.rms_px):
            return None
        return self.pose.rms_px

    def summary(self) -> dict[str, Any]:
        """Plain JSON-able facts about the run (no arrays but the shoreline's length)."""
        out: dict[str, Any] = {
            "status": self.status,
            "reason": self.reason,
            "station": self.station,
            "method": self.method,
            "water_level_m": self.water_level_m,
            "seconds": round(self.seconds, 3),
            "quality": {
                "width": self.quality.width,
                "height": self.quality.height,
                "mean_luma": round(self.quality.mean_luma, 1),
                "laplacian_var": round(self.quality.laplacian_var, 1),
            },
        }
        if self.registration is not None:
            out["registration"] = self.registration.stats()
        if self.pose is not None:
            cam = self.pose.camera
            out["camera"] = {
                "reprojection_rms_px": round(self.pose.rms_px, 2),
                "gcps": len(self.pose.residuals_px),
                "azimuth_deg": round(math.degrees(cam.azimuth_rad), 3),
                "tilt_deg": round(math.degrees(cam.tilt_rad), 3),
                "roll_deg": round(math.degrees(cam.roll_rad), 3),
                "hfov_deg": round(cam.hfov_deg, 2),
            }
        if self.shoreline is not None:
            out["shoreline"] = {
                "points": len(self.shoreline),
                "threshold": round(self.shoreline.threshold, 3),  # on the extraction method's colour index
                "rejected": self.shoreline.n_rejected,
                "mean_confidence": round(float(self.shoreline.confidence.mean()), 3)
                if len(self.shoreline)
                else None,
            }
        return _json_safe(out)


def _json_safe(value: Any) -> Any:
    """NaN and ±inf (e.g. the condition number of a degenerate homography) become None: JSON has no such
    numbers, PostgreSQL's JSONB refuses them and GeoJSON readers choke on Python's `Infinity`."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _flag(reason: str, base: ShorelineResult, started: float, **changes: Any) -> ShorelineResult:
    return replace(base, status="flagged", reason=reason, seconds=time.perf_counter() - started, **changes)


def process_photo(
    image: np.ndarray,
    station: StationGeometry | PreparedStation,
    water_level_m: float | None,
    *,
    config: ProcessConfig | None = None,
) -> ShorelineResult:
    """Extract the shoreline of one BGR photo taken at `station` when the water stood at `water_level_m`
    (metres, the station's vertical datum). Bad photos are returned flagged with a reason, not raised."""
    started = time.perf_counter()
    config = config or ProcessConfig()
    prepared = station if isinstance(station, PreparedStation) else prepare_station(station, config)
    geo = prepared.station
    ref_h, ref_w = geo.references[0].image.shape[:2]
    quality = assess_quality(image, expect_landscape=ref_w >= ref_h)
    level = None if water_level_m is None or not math.isfinite(float(water_level_m)) else float(water_level_m)
    base = ShorelineResult(
        status="ok",
        reason=None,
        station=geo.name,
        epsg=geo.epsg,
        water_level_m=level,
        quality=quality,
        method=f"{METHOD_PREFIX}-{config.extraction.method}",
    )
    if not quality.ok:
        return _flag("; ".join(quality.reasons), base, started)
    if level is None:
        return _flag(
            "missing water level: the tide at the photo's time is needed to rectify it "
            "(give water_level_m in the station's vertical datum)",
            base,
            started,
        )
    if level >= geo.camera_guess.z:
        return _flag(
            f"water level {level} m is not below the camera ({geo.camera_guess.z} m): wrong datum?",
            base,
            started,
        )

    registration = register_photo(image, prepared.references, config.registration)
    if not registration.ok:
        return _flag(f"registration failed: {registration.reason}", base, started, registration=registration)
    assert registration.gcp_uv is not None
    seen = np.isfinite(registration.gcp_uv).all(axis=1)
    needed = min_gcps(DEFAULT_FIT)
    if seen.sum() < needed:
        return _flag(
            f"only {int(seen.sum())} GCPs fall inside the photo after registration; the camera pose "
            f"needs {needed}",
            base,
            started,
            registration=registration,
        )

    h, w = image.shape[:2]
    guess = geo.camera_guess
    # The registration's zoom carries both the change of resolution and the change of zoom of the phone.
    initial = replace(
        guess,
        width=w,
        height=h,
        cx=None,
        cy=None,
        focal_px=guess.focal_px * registration.zoom * ref_w / guess.width,
    )
    pose = solve_camera_pose(
        geo.gcp_xyz[seen],
        registration.gcp_uv[seen],
        initial,
        gcp_names=[n for n, s in zip(geo.gcp_names, seen, strict=True) if s],
    )
    limit = config.max_rms_fraction_of_diagonal * math.hypot(w, h)
    if not math.isfinite(pose.rms_px) or pose.rms_px > limit:
        return _flag(
            f"camera pose RMS {pose.rms_px:.1f} px above {limit:.1f} px: GCPs carried badly",
            base,
            started,
            registration=registration,
            pose=pose,
        )

    plan = rectify(image, pose.camera, geo.plan_grid, level)
    shoreline = extract_shoreline(plan, geo.transects, config.extraction)
    if len(shoreline) < config.extraction.min_points:
        return _flag(
            f"no shoreline found: {len(shoreline)} transects gave a sand/water edge",
            base,
            started,
            registration=registration,
            pose=pose,
            plan=plan,
            shoreline=shoreline,
        )
    return replace(
        base,
        registration=registration,
        pose=pose,
        plan=plan,
        shoreline=shoreline,
        seconds=time.perf_counter() - started,
    )


def result_to_geojson(
    result: ShorelineResult, station: StationGeometry, *, photo: str | None = None
) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (RFC 7946: WGS84 lon/lat, z = water level) of the shoreline, with the
    run summary, per-point confidence and the projected coordinates in the station's EPSG as properties.
    A flagged result gives a feature with a null geometry and the reason."""
    props: dict[str, Any] = {"photo": photo, "epsg": station.epsg, **result.summary()}
    geometry = None
    sl = result.shoreline
    if result.status == "ok" and sl is not None and len(sl):
        world = station.local_to_world(sl.xyz[:, :2])
        lon, lat = crs_mod.to_wgs84(world[:, 0], world[:, 1], station.epsg)
        geometry = {
            "type": "LineString",
            "coordinates": [
                [round(float(a), 8), round(float(b), 8), round(float(z), 3)]
                for a, b, z in zip(np.atleast_1d(lon), np.atleast_1d(lat), sl.xyz[:, 2], strict=True)
            ],
        }
        props["confidence"] = [round(float(c), 3) for c in sl.confidence]
        props["transect_index"] = [int(i) for i in sl.transect_index]
        props["projected_coordinates"] = [[round(float(x), 3), round(float(y), 3)] for x, y in world]
    return {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "geometry": geometry, "properties": props}],
    }
