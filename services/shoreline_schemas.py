"""Pydantic schemas of shoreline stations, photos and shorelines (HTTP API and services).

World coordinates (GCPs, transects, camera position, plan bounds) are metres in the station's `epsg`
(a projected CRS; Lambert-93, EPSG:2154, by default); pixels are (u, v) on the station's reference image,
u to the right, v down. Transects run from their landward origin seaward (DSAS convention).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from vigie.services.schemas import DateTimeIn, Latitude, Longitude, Name, Slug, _check_timezone
from vigie.store.models import PhotoStatus


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GcpIn(_Input):
    name: str = Field(min_length=1, max_length=64, title="GCP name")
    x: float = Field(title="Easting (m)", description="In the station's EPSG.")
    y: float = Field(title="Northing (m)", description="In the station's EPSG.")
    z: float = Field(title="Height (m)", description="Same vertical datum as the water levels.")
    u: float | None = Field(None, title="Pixel u", description="On the reference image; null: not visible.")
    v: float | None = Field(None, title="Pixel v", description="On the reference image; null: not visible.")

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.u is None) != (self.v is None):
            raise ValueError(f"GCP {self.name}: give both pixel u and v, or neither")
        return self


class TransectIn(_Input):
    x0: float = Field(title="Landward end easting (m)")
    y0: float = Field(title="Landward end northing (m)")
    x1: float = Field(title="Seaward end easting (m)")
    y1: float = Field(title="Seaward end northing (m)")

    @model_validator(mode="after")
    def _not_a_point(self) -> Self:
        if (self.x0, self.y0) == (self.x1, self.y1):
            raise ValueError("a transect needs two distinct ends")
        return self


class CameraGuessIn(_Input):
    """Where the cradle is and roughly where the phone looks: the start of every photo's pose fit."""

    x: float = Field(title="Camera easting (m)")
    y: float = Field(title="Camera northing (m)")
    z: float = Field(title="Camera height (m)")
    azimuth_deg: float = Field(ge=-360, le=360, title="Azimuth (°)", description="Clockwise from grid north.")
    tilt_deg: float = Field(gt=0, lt=180, title="Tilt (°)", description="From the nadir; 90 = horizon.")
    roll_deg: float = Field(0.0, ge=-90, le=90, title="Roll (°)")
    hfov_deg: float = Field(gt=5, lt=150, title="Horizontal field of view (°)")


class PlanIn(_Input):
    """The rectification grid, in world metres."""

    x_min: float
    x_max: float
    y_min: float
    y_max: float
    resolution_m: float = Field(0.5, gt=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if not (self.x_max > self.x_min and self.y_max > self.y_min):
            raise ValueError("plan: expected x_min < x_max and y_min < y_max")
        return self


class ConstituentIn(_Input):
    name: str = Field(min_length=1, max_length=16)
    amplitude_m: float = Field(ge=0)
    phase_deg: float
    speed_deg_per_h: float = Field(gt=0, description="M2: 28.9841042 °/h.")


class TideIn(_Input):
    epoch: DateTimeIn
    mean_level_m: float = 0.0
    constituents: list[ConstituentIn] = Field(min_length=1)
    valid_from: DateTimeIn | None = None
    valid_to: DateTimeIn | None = None

    @field_validator("epoch", "valid_from", "valid_to")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("times must carry a UTC offset, e.g. 2026-01-01T00:00:00Z")
        return value


class StationCreate(_Input):
    site: Slug = Field(title="Site slug", description="The site (beach) the station belongs to.")
    slug: Slug
    name: Name
    epsg: int = Field(2154, title="EPSG code", description="Projected CRS of every world coordinate.")
    longitude: Longitude | None = None
    latitude: Latitude | None = None
    timezone: str | None = Field(None, description="For EXIF times without offset; default: the site's.")
    gcps: list[GcpIn] = Field(min_length=1)
    transects: list[TransectIn] = Field(default_factory=list)
    camera: CameraGuessIn
    plan: PlanIn
    tide: TideIn | None = None

    @model_validator(mode="after")
    def _location_pair(self) -> Self:
        if (self.longitude is None) != (self.latitude is None):
            raise ValueError("give both longitude and latitude, or neither")
        if self.timezone is not None:
            _check_timezone(self.timezone)
        names = [g.name for g in self.gcps]
        if len(set(names)) != len(names):
            raise ValueError("GCP names must be unique")
        return self


class StationUpdate(_Input):
    name: Name | None = None
    gcps: list[GcpIn] | None = None
    transects: list[TransectIn] | None = None
    camera: CameraGuessIn | None = None
    plan: PlanIn | None = None
    tide: TideIn | None = None


class StationRead(BaseModel):
    id: int
    site: str
    slug: str
    name: str
    epsg: int
    longitude: float | None
    latitude: float | None
    gcps: list[dict[str, Any]]
    transects: list[dict[str, Any]]
    setup: dict[str, Any] | None
    tide: dict[str, Any] | None
    has_reference_image: bool
    calibration_version: str | None
    upload_url: str


class PhotoRead(BaseModel):
    id: int
    station: str
    status: PhotoStatus = Field(
        description="pending, accepted (being processed), processed (a shoreline was stored), flagged (the "
        "photo is unusable: see reason; no shoreline stored), failed (not the photo's fault: the station is "
        "not set up yet or an internal error; it can be processed again)."
    )
    taken_at: datetime | None
    uploaded_at: datetime
    quality_score: float | None
    water_level_m: float | None
    reprojection_rms_px: float | None
    reason: str | None
    reason_code: str | None = Field(
        None,
        description="Stable code of a flagged photo's reason: too_small, too_dark, blurred, orientation, "
        "no_water_level, water_level_datum, registration, framing, camera_pose, no_shoreline, other.",
    )


class WaterLevelsImported(BaseModel):
    station: str
    imported: int
    first: datetime
    last: datetime
