"""Pydantic schemas of the parking side of LAPI, shared by the services, the HTTP API and the site config."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from vigie.errors import InvalidInputError
from vigie.services.lapi_plates import parse_plate_input
from vigie.services.schemas import Name, Slug, fits_utc
from vigie.store.models import CameraRole, ParkingStatus, PlateFormat

RetentionDays = Annotated[
    int,
    Field(
        ge=0,
        le=365,
        title="Retention (days)",
        description="Plate data is deleted at most this many days after it was read, whatever the state.",
    ),
]
Purpose = Annotated[
    str,
    Field(
        min_length=3,
        max_length=500,
        title="Purpose",
        description="Why plate data is accessed (e.g. 'contestation FPS 2026-118'); kept in the audit log.",
    ),
]

AwareDateTimeIn = Annotated[AwareDatetime, AfterValidator(fits_utc)]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CarParkPolicy(_Input):
    """What is kept about plates and for how long (GDPR / CNIL)."""

    store_clear_text: bool = Field(
        False,
        title="Store clear text",
        description="Keep the plate text beside its keyed hash (needed to show plates to staff).",
    )
    retention_days: RetentionDays = 7
    purge_when_paid: bool = Field(
        True,
        title="Purge when paid",
        description="Delete a session's reads and anonymise it as soon as it is closed and paid.",
    )
    exit_means_paid: bool = Field(
        False,
        title="Exit means paid",
        description="The exit barrier only opens for paid tickets, so a matched exit marks the session paid.",
    )


class CarParkIn(CarParkPolicy):
    slug: Slug
    name: Name
    capacity: int | None = Field(
        None, ge=0, le=100_000, title="Capacity", description="Places; None = unknown."
    )
    overstay_after_h: float | None = Field(
        None,
        gt=0,
        le=24 * 366,
        title="Overstay after (h)",
        description="An entry without exit after this many hours is flagged; None = never.",
    )


class CarParkUpdate(_Input):
    name: Name | None = None
    capacity: int | None = Field(None, ge=0, le=100_000)
    overstay_after_h: float | None = Field(None, gt=0, le=24 * 366)
    store_clear_text: bool | None = None
    retention_days: RetentionDays | None = None
    purge_when_paid: bool | None = None
    exit_means_paid: bool | None = None


class CarParkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    site_id: int
    slug: str
    name: str
    capacity: int | None
    overstay_after_s: float | None
    store_clear_text: bool
    retention_days: int
    purge_when_paid: bool
    exit_means_paid: bool


def _validated_plate(value: str) -> str:
    try:
        return parse_plate_input(value).display
    except InvalidInputError as exc:
        raise ValueError(str(exc)) from exc


class SubscriberIn(_Input):
    # str(ValidationError) would otherwise quote the whole input, plate included, into logs and messages.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    plate: str = Field(
        title="Plate", description="AB-123-CD, 1234 AB 56, or a foreign plate's letters/digits."
    )
    valid_from: AwareDateTimeIn = Field(
        title="Valid from", description="Start of the subscription (with zone)."
    )
    valid_to: AwareDateTimeIn | None = Field(
        None, title="Valid to", description="End (exclusive, with zone); None = open-ended."
    )
    reference: str | None = Field(
        None, max_length=100, title="Reference", description="Contract number; never a person's name."
    )

    @field_validator("plate")
    @classmethod
    def _plate(cls, value: str) -> str:
        return _validated_plate(value)

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.valid_to is not None and self.valid_to <= self.valid_from:
            raise ValueError(
                f"valid_to ({self.valid_to.isoformat()}) must be after "
                f"valid_from ({self.valid_from.isoformat()})"
            )
        return self


class SubscriberRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    car_park_id: int
    plate_text: str | None  # None where the car park does not store clear text
    plate_format: PlateFormat
    valid_from: datetime
    valid_to: datetime | None
    reference: str | None


class RejectedRow(BaseModel):
    line: int = Field(description="Line number in the file (1 = header).")
    reason: str
    values: dict[str, str | None] = Field(
        description="The row's cells, plate masked (first 2 characters, then …)."
    )


class ImportReport(BaseModel):
    imported: int
    rejected: list[RejectedRow]


class PlateReadOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    camera_id: int
    car_park_id: int | None
    role: CameraRole | None
    read_at: datetime
    plate_text: str | None
    plate_format: PlateFormat
    confidence: float
    subscriber: bool | None
    track_id: int | None
    x1: float
    y1: float
    x2: float
    y2: float
    model_name: str
    model_version: str
    ocr_model_name: str | None
    ocr_model_version: str | None


class ParkingSessionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    car_park_id: int | None
    plate_text: str | None = Field(None, description="From the entry read, where clear text is stored.")
    anonymised: bool
    entry_at: datetime
    exit_at: datetime | None
    duration_s: float | None
    status: ParkingStatus
    flag_reason: str | None
    subscriber: bool
    paid: bool


class OccupancyPoint(BaseModel):
    at: datetime
    occupied: int


class OccupancyOut(BaseModel):
    car_park_id: int
    capacity: int | None
    occupied_now: int
    flagged_now: int = Field(description="Of which flagged (entry without exit for too long).")
    free_now: int | None
    series: list[OccupancyPoint]


class PurgeReport(BaseModel):
    reads_deleted: int = 0
    clear_text_cleared: int = 0
    sessions_anonymised: int = 0
    subscribers_deleted: int = 0
    sessions_flagged: int = 0
