"""Configuration of the lapi pipeline: the `lapi:` section of a YAML site file.

lapi:
  reader: {detector: {type: ultralytics, model: plate-yolov8n, conf: 0.25}}
  passage_mode: track          # video: one passage per plate track; `frame`: one per image (photos)
  store_clear_text: false      # plates kept only as keyed hashes
  retention: {max_days: 7, purge_when_paid: true}
  car_parks:
    - slug: vieux-port
      name: Parking du Vieux-Port
      capacity: 320
      overstay_after_h: 48
      entry_cameras: [entree-nord]
      exit_cameras: [sortie-nord]
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from vigie.pipelines.lapi.reading import PlateReaderConfig
from vigie.pipelines.lapi.voting import VotingConfig
from vigie.services.lapi_schemas import CarParkIn
from vigie.services.schemas import Name, Slug
from vigie.store.models import CameraRole
from vigie.vision.tracker import ByteTrackConfig


class RetentionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_days: int = Field(
        7,
        ge=0,
        le=365,
        title="Retention (days)",
        description="Plate data is deleted (reads) or anonymised (sessions) at most this many days after it "
        "was read, whatever the state of the session.",
    )
    purge_when_paid: bool = Field(
        True,
        title="Purge when paid",
        description="A session closed and paid has its reads deleted and its hash cleared by the next purge.",
    )


class LapiCarParkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: Slug
    name: Name
    capacity: int | None = Field(None, ge=0, le=100_000, title="Capacity (places)")
    overstay_after_h: float | None = Field(
        None, gt=0, le=24 * 366, title="Overstay after (h)", description="Entries without exit are flagged."
    )
    exit_means_paid: bool = Field(
        False,
        title="Exit means paid",
        description="The exit barrier opens only for paid tickets: a matched exit marks the session paid.",
    )
    entry_cameras: list[Slug] = Field(default_factory=list, title="Entry cameras (slugs)")
    exit_cameras: list[Slug] = Field(default_factory=list, title="Exit cameras (slugs)")
    patrol_cameras: list[Slug] = Field(
        default_factory=list, title="Patrol cameras (slugs)", description="Reads checked against subscribers."
    )

    def camera_roles(self) -> dict[str, CameraRole]:
        roles: dict[str, CameraRole] = {}
        for role, slugs in (
            (CameraRole.ENTRY, self.entry_cameras),
            (CameraRole.EXIT, self.exit_cameras),
            (CameraRole.PATROL, self.patrol_cameras),
        ):
            for slug in slugs:
                roles[slug] = role
        return roles


class LapiPipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: PlateReaderConfig = Field(
        default_factory=PlateReaderConfig, title="Plate reader", description="Plate detector and OCR."
    )
    tracker: ByteTrackConfig = Field(
        default_factory=ByteTrackConfig, title="Tracker", description="Plate tracks across video frames."
    )
    passage_mode: Literal["track", "frame"] = Field(
        "track",
        title="Passage mode",
        description="track: one read per plate track, voted over its frames (video); frame: one read per "
        "image, its best plate (photo folders, snapshot cameras).",
    )
    voting: VotingConfig = Field(
        default_factory=VotingConfig,
        title="Voting",
        description="Multi-frame voting per track; a track unseen for `track_timeout_s` has passed.",
    )
    track_gap_s: float = Field(
        10.0,
        gt=0,
        title="Track gap (s)",
        description="Frames further apart than this never share a track (a stall, a new photo).",
    )
    min_match_confidence: float = Field(
        0.5,
        ge=0,
        le=1,
        title="Minimum confidence to match",
        description="Weaker reads are stored (for review) but neither open nor close a session.",
    )
    duplicate_window_s: float = Field(
        120.0,
        ge=0,
        title="Duplicate window (s)",
        description="The same plate at the same kind of gate within this time is one passage, not two.",
    )
    overstay_check_s: float = Field(
        300.0, gt=0, title="Overstay check period (s)", description="How often open sessions are checked."
    )
    store_clear_text: bool = Field(
        False,
        title="Store clear text",
        description="Keep the plate text beside its keyed hash (staff can read it); off = hashes only.",
    )
    retention: RetentionConfig = Field(default_factory=RetentionConfig, title="Retention")
    car_parks: list[LapiCarParkConfig] = Field(default_factory=list, title="Car parks")

    @model_validator(mode="after")
    def _one_role_per_camera(self) -> Self:
        slugs = [park.slug for park in self.car_parks]
        duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicates:
            raise ValueError(f"car_parks: duplicate slugs {duplicates}")
        seen: dict[str, str] = {}
        for park in self.car_parks:
            listed = (
                ("entry", park.entry_cameras),
                ("exit", park.exit_cameras),
                ("patrol", park.patrol_cameras),
            )
            for role, cameras in listed:
                for camera in cameras:
                    where = f"{park.slug}.{role}_cameras"
                    if camera in seen:
                        raise ValueError(f"camera {camera!r} is in {seen[camera]} and {where}: one role each")
                    seen[camera] = where
        return self

    def car_park_in(self, park: LapiCarParkConfig) -> CarParkIn:
        """The stored form of a configured car park, with this file's GDPR policy."""
        return CarParkIn(
            slug=park.slug,
            name=park.name,
            capacity=park.capacity,
            overstay_after_h=park.overstay_after_h,
            exit_means_paid=park.exit_means_paid,
            store_clear_text=self.store_clear_text,
            retention_days=self.retention.max_days,
            purge_when_paid=self.retention.purge_when_paid,
        )

    def camera_assignments(self) -> dict[str, tuple[str, CameraRole]]:
        """camera slug → (car park slug, role)."""
        return {
            camera: (park.slug, role)
            for park in self.car_parks
            for camera, role in park.camera_roles().items()
        }
