"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the lapi pipeline (role `parking`).

Plate data (reads, sessions, subscribers) is only served with a `purpose` query parameter, and each such
access is written to `audit_log` with the caller's token name; aggregated figures (occupancy) need none.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.api.deps import SessionDep, SettingsDep, require_roles
from vigie.errors import InvalidInputError
from vigie.services import lapi_gdpr, lapi_parking, lapi_subscribers
from vigie.services.lapi_plates import hash_plate, parse_plate_input
from vigie.services.lapi_schemas import (
    CarParkIn,
    CarParkRead,
    CarParkUpdate,
    ImportReport,
    OccupancyOut,
    ParkingSessionOut,
    PlateReadOut,
    PurgeReport,
    SubscriberIn,
    SubscriberRead,
)
from vigie.services.tokens import Principal, Role
from vigie.store.models import ParkingSession, ParkingStatus, PlateRead
from vigie.store.types import utcnow

router = APIRouter(tags=["lapi"])
pages = APIRouter(include_in_schema=False)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
MAX_IMPORT_BYTES = 5 * 1024 * 1024

ParkingRole = Annotated[Principal, require_roles(Role.PARKING)]
PurposeQuery = Annotated[
    str,
    Query(
        min_length=3,
        max_length=500,
        description="Why plate data is accessed (e.g. 'contestation FPS 2026-118'); kept in the audit log.",
    ),
]
PlateQuery = Annotated[
    str | None, Query(description="Only this plate (AB-123-CD, 1234 AB 56...); looked up by its keyed hash.")
]
Limit = Annotated[int, Query(ge=1, le=1000)]


class CarParkCreate(CarParkIn):
    site_id: int


def _plate_hash(plate: str | None, secret: str) -> str | None:
    if plate is None:
        return None
    return hash_plate(parse_plate_input(plate, what="plate query parameter").compact, secret)


def _audit(
    session: Session, principal: Principal, action: str, obj: str, purpose: str, **details: object
) -> None:
    lapi_gdpr.audit_plate_access(
        session, actor=principal.name, action=action, object=obj, purpose=purpose, details=details or None
    )


# --- car parks ----------------------------------------------------------------------------------------


@router.get("/lapi/car-parks", response_model=list[CarParkRead])
def list_car_parks(session: SessionDep, _: ParkingRole, site_id: int | None = None) -> list[CarParkRead]:
    rows = lapi_parking.list_car_parks(session, site_id=site_id)
    return [CarParkRead.model_validate(row) for row in rows]


@router.post("/lapi/car-parks", response_model=CarParkRead, status_code=status.HTTP_201_CREATED)
def create_car_park(data: CarParkCreate, session: SessionDep, _: ParkingRole) -> CarParkRead:
    row = lapi_parking.create_car_park(
        session, site_id=data.site_id, data=CarParkIn(**data.model_dump(exclude={"site_id"}))
    )
    session.commit()
    return CarParkRead.model_validate(row)


@router.get("/lapi/car-parks/{car_park_id}", response_model=CarParkRead)
def get_car_park(car_park_id: int, session: SessionDep, _: ParkingRole) -> CarParkRead:
    return CarParkRead.model_validate(lapi_parking.get_car_park(session, car_park_id=car_park_id))


@router.patch("/lapi/car-parks/{car_park_id}", response_model=CarParkRead)
def update_car_park(
    car_park_id: int, data: CarParkUpdate, session: SessionDep, _: ParkingRole
) -> CarParkRead:
    row = lapi_parking.update_car_park(session, car_park_id=car_park_id, data=data)
    session.commit()
    return CarParkRead.model_validate(row)


@router.delete("/lapi/car-parks/{car_park_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_car_park(car_park_id: int, session: SessionDep, _: ParkingRole) -> Response:
    lapi_parking.delete_car_park(session, car_park_id=car_park_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/lapi/car-parks/{car_park_id}/occupancy", response_model=OccupancyOut)
def car_park_occupancy(
    car_park_id: int,
    session: SessionDep,
    _: ParkingRole,
    start: Annotated[datetime | None, Query(description="Default: 24 h before end.")] = None,
    end: Annotated[datetime | None, Query(description="Default: now.")] = None,
    step_s: Annotated[float, Query(gt=0, description="Seconds between points.")] = 900.0,
) -> OccupancyOut:
    """Vehicles inside over time and now (aggregated: no plate data, no purpose needed)."""
    end = end or utcnow()
    start = start or end - timedelta(hours=24)
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("start/end: expected datetimes with a time zone, e.g. 2026-11-28T08:00:00Z")
    return lapi_parking.occupancy(session, car_park_id=car_park_id, start=start, end=end, step_s=step_s)


# --- sessions -----------------------------------------------------------------------------------------


def _session_out(row: ParkingSession, plate_texts: dict[int, str | None]) -> ParkingSessionOut:
    return ParkingSessionOut(
        id=row.id, car_park_id=row.car_park_id,
        plate_text=plate_texts.get(row.entry_read_id or row.exit_read_id or -1),
        anonymised=row.plate_hash is None, entry_at=row.entry_at, exit_at=row.exit_at,
        duration_s=row.duration_s, status=row.status, flag_reason=row.flag_reason,
        subscriber=row.subscriber, paid=row.paid,
    )  # fmt: skip


@router.get("/lapi/car-parks/{car_park_id}/sessions", response_model=list[ParkingSessionOut])
def list_sessions(
    car_park_id: int,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    status_: Annotated[ParkingStatus | None, Query(alias="status")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    plate: PlateQuery = None,
    limit: Limit = 100,
) -> list[ParkingSessionOut]:
    plate_hash = _plate_hash(plate, settings.secret_key.get_secret_value())
    rows = lapi_parking.list_sessions(
        session, car_park_id=car_park_id, status=status_, since=since, until=until,
        plate_hash=plate_hash, limit=limit,
    )  # fmt: skip
    read_ids = {rid for row in rows for rid in (row.entry_read_id, row.exit_read_id) if rid is not None}
    texts = dict(
        session.execute(select(PlateRead.id, PlateRead.plate_text).where(PlateRead.id.in_(read_ids))).all()
    )
    _audit(session, principal, "lapi.sessions.list", f"car_park:{car_park_id}", purpose,
           plate_filter=plate is not None, status=status_, returned=len(rows))  # fmt: skip
    session.commit()
    return [_session_out(row, texts) for row in rows]


@router.post("/lapi/sessions/{session_id}/paid", response_model=ParkingSessionOut)
def mark_session_paid(session_id: int, session: SessionDep, principal: ParkingRole) -> ParkingSessionOut:
    """Record the payment of a session (pay station); the next purge then anonymises it if closed."""
    row = lapi_parking.mark_paid(session, session_id=session_id)
    _audit(session, principal, "lapi.session.paid", f"parking_session:{session_id}", "payment recorded")
    session.commit()
    return _session_out(row, {})  # no plate text in this answer


# --- reads --------------------------------------------------------------------------------------------


@router.get("/lapi/reads", response_model=list[PlateReadOut])
def list_reads(
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    car_park_id: int | None = None,
    plate: PlateQuery = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 100,
) -> list[PlateReadOut]:
    plate_hash = _plate_hash(plate, settings.secret_key.get_secret_value())
    rows = lapi_parking.list_reads(
        session, car_park_id=car_park_id, plate_hash=plate_hash, since=since, until=until, limit=limit
    )
    _audit(session, principal, "lapi.reads.list",
           "car_park:all" if car_park_id is None else f"car_park:{car_park_id}", purpose,
           plate_filter=plate is not None, returned=len(rows))  # fmt: skip
    session.commit()
    return [PlateReadOut.model_validate(row) for row in rows]


# --- subscribers --------------------------------------------------------------------------------------


@router.get("/lapi/car-parks/{car_park_id}/subscribers", response_model=list[SubscriberRead])
def list_subscribers(
    car_park_id: int,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    plate: PlateQuery = None,
    valid_at: datetime | None = None,
) -> list[SubscriberRead]:
    plate_hash = _plate_hash(plate, settings.secret_key.get_secret_value())
    rows = lapi_subscribers.list_subscribers(
        session, car_park_id=car_park_id, plate_hash=plate_hash, valid_at=valid_at
    )
    _audit(session, principal, "lapi.subscribers.list", f"car_park:{car_park_id}", purpose,
           plate_filter=plate is not None, returned=len(rows))  # fmt: skip
    session.commit()
    return [SubscriberRead.model_validate(row) for row in rows]


@router.post(
    "/lapi/car-parks/{car_park_id}/subscribers",
    response_model=SubscriberRead,
    status_code=status.HTTP_201_CREATED,
)
def create_subscriber(
    car_park_id: int,
    data: SubscriberIn,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
) -> SubscriberRead:
    row = lapi_subscribers.create_subscriber(
        session, car_park_id=car_park_id, data=data, secret=settings.secret_key.get_secret_value()
    )
    _audit(session, principal, "lapi.subscribers.create", f"parking_subscriber:{row.id}", purpose)
    session.commit()
    return SubscriberRead.model_validate(row)


@router.get("/lapi/car-parks/{car_park_id}/subscribers/{subscriber_id}", response_model=SubscriberRead)
def get_subscriber(
    car_park_id: int, subscriber_id: int, purpose: PurposeQuery, session: SessionDep, principal: ParkingRole
) -> SubscriberRead:
    row = lapi_subscribers.get_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id)
    _audit(session, principal, "lapi.subscribers.get", f"parking_subscriber:{subscriber_id}", purpose)
    session.commit()
    return SubscriberRead.model_validate(row)


@router.put("/lapi/car-parks/{car_park_id}/subscribers/{subscriber_id}", response_model=SubscriberRead)
def update_subscriber(
    car_park_id: int,
    subscriber_id: int,
    data: SubscriberIn,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
) -> SubscriberRead:
    row = lapi_subscribers.update_subscriber(
        session, car_park_id=car_park_id, subscriber_id=subscriber_id, data=data,
        secret=settings.secret_key.get_secret_value(),
    )  # fmt: skip
    _audit(session, principal, "lapi.subscribers.update", f"parking_subscriber:{subscriber_id}", purpose)
    session.commit()
    return SubscriberRead.model_validate(row)


@router.delete(
    "/lapi/car-parks/{car_park_id}/subscribers/{subscriber_id}", status_code=status.HTTP_204_NO_CONTENT
)
def delete_subscriber(
    car_park_id: int, subscriber_id: int, purpose: PurposeQuery, session: SessionDep, principal: ParkingRole
) -> Response:
    lapi_subscribers.delete_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id)
    _audit(session, principal, "lapi.subscribers.delete", f"parking_subscriber:{subscriber_id}", purpose)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/lapi/car-parks/{car_park_id}/subscribers/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
)
async def import_subscribers(
    car_park_id: int,
    request: Request,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
) -> ImportReport:
    """Import a CSV body (`plate,valid_from,valid_to,reference`): good rows stored, bad rows listed."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise InvalidInputError(f"subscriber file: {len(body)} bytes; at most {MAX_IMPORT_BYTES}")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("cp1252")  # spreadsheets saved as "CSV (Windows)"
    report = lapi_subscribers.import_subscribers_csv(
        session, car_park_id=car_park_id, text=text, secret=settings.secret_key.get_secret_value()
    )
    _audit(session, principal, "lapi.subscribers.import", f"car_park:{car_park_id}", purpose,
           imported=report.imported, rejected=len(report.rejected))  # fmt: skip
    session.commit()
    return report


# --- retention ----------------------------------------------------------------------------------------


@router.post("/lapi/purge", response_model=PurgeReport)
def purge_plate_data(
    session: SessionDep, principal: ParkingRole, car_park_id: int | None = None
) -> PurgeReport:
    """Apply the retention policy now (the same job as `vigie lapi purge`)."""
    if car_park_id is not None:
        lapi_parking.get_car_park(session, car_park_id=car_park_id)
    report = lapi_gdpr.purge(session, car_park_id=car_park_id, actor=principal.name)
    session.commit()
    return report


# --- pages --------------------------------------------------------------------------------------------


@pages.get("/lapi/parking", response_class=HTMLResponse)
def parking_page(request: Request) -> HTMLResponse:
    """Car parks and their occupancy. It holds no data: its script calls the API with the user's token."""
    return TEMPLATES.TemplateResponse(request, "lapi/parking.html", {})
