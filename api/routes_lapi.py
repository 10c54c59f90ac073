"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the lapi pipeline (role `parking`).

Plate data (reads, sessions, subscribers) is only served with a `purpose`, and each such access is written
to `audit_log` with the caller's token name; aggregated figures (occupancy) need none.

A plate never travels in a URL: query strings end up in access and proxy logs. Looking data up by plate is
a POST to `…/search` with the plate in the JSON body; the GET listings refuse a `plate` parameter. Request
validation errors of these routes do not echo the submitted values (they would send plates back), and
plate-related messages show plates masked (`lapi_plates.mask_plate`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.api.deps import IdPath, IdQuery, SessionDep, SettingsDep, require_roles
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
from vigie.services.schemas import DateTimeIn, RowId
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
Limit = Annotated[int, Query(ge=1, le=1000)]
PlateField = Annotated[
    str | None,
    Field(
        None,
        max_length=32,
        description="Only this plate (AB-123-CD, 1234 AB 56...); looked up by its keyed hash.",
    ),
]
PurposeField = Annotated[
    str,
    Field(
        min_length=3,
        max_length=500,
        description="Why plate data is accessed (e.g. 'contestation FPS 2026-118'); kept in the audit log.",
    ),
]


class CarParkCreate(CarParkIn):
    site_id: RowId


class _Search(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    purpose: PurposeField
    plate: PlateField


class ReadSearch(_Search):
    car_park_id: RowId | None = None
    since: DateTimeIn | None = None
    until: DateTimeIn | None = None
    limit: int = Field(100, ge=1, le=1000)


class SessionSearch(_Search):
    status: ParkingStatus | None = None
    since: DateTimeIn | None = None
    until: DateTimeIn | None = None
    limit: int = Field(100, ge=1, le=1000)


class SubscriberSearch(_Search):
    valid_at: DateTimeIn | None = None


SearchT = TypeVar("SearchT", bound=_Search)


def query_search(model: type[SearchT], **values: object) -> SearchT:
    """The search of a GET listing, built from its query parameters. The model's own checks (a purpose
    that is blank once stripped...) are then refused as a 422 on that query parameter, not a 500."""
    try:
        return model(**values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        raise RequestValidationError([{**e, "loc": ("query", *e["loc"])} for e in errors]) from exc


def refuse_plate_in_query(request: Request) -> None:
    """GET listings: a plate in the URL would be written to access logs; the value is not echoed back."""
    if "plate" in request.query_params:
        raise InvalidInputError(
            f"query parameter 'plate': not accepted in a URL (it would end up in access logs); "
            f'POST {request.url.path}/search with a JSON body {{"purpose": ..., "plate": ...}}'
        )


NoPlateQuery = Depends(refuse_plate_in_query)


def _plate_hash(plate: str | None, secret: str) -> str | None:
    if plate is None:
        return None
    return hash_plate(parse_plate_input(plate).compact, secret)


def _audit(
    session: Session, principal: Principal, action: str, obj: str, purpose: str, **details: object
) -> None:
    lapi_gdpr.audit_plate_access(
        session, actor=principal.name, action=action, object=obj, purpose=purpose, details=details or None
    )


# --- car parks ----------------------------------------------------------------------------------------


@router.get("/lapi/car-parks", response_model=list[CarParkRead])
def list_car_parks(session: SessionDep, _: ParkingRole, site_id: IdQuery = None) -> list[CarParkRead]:
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
def get_car_park(car_park_id: IdPath, session: SessionDep, _: ParkingRole) -> CarParkRead:
    return CarParkRead.model_validate(lapi_parking.get_car_park(session, car_park_id=car_park_id))


@router.patch("/lapi/car-parks/{car_park_id}", response_model=CarParkRead)
def update_car_park(
    car_park_id: IdPath, data: CarParkUpdate, session: SessionDep, _: ParkingRole
) -> CarParkRead:
    row = lapi_parking.update_car_park(session, car_park_id=car_park_id, data=data)
    session.commit()
    return CarParkRead.model_validate(row)


@router.delete("/lapi/car-parks/{car_park_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_car_park(car_park_id: IdPath, session: SessionDep, _: ParkingRole) -> Response:
    lapi_parking.delete_car_park(session, car_park_id=car_park_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/lapi/car-parks/{car_park_id}/occupancy", response_model=OccupancyOut)
def car_park_occupancy(
    car_park_id: IdPath,
    session: SessionDep,
    _: ParkingRole,
    start: Annotated[DateTimeIn | None, Query(description="Default: 24 h before end.")] = None,
    end: Annotated[DateTimeIn | None, Query(description="Default: now.")] = None,
    step_s: Annotated[float, Query(gt=0, description="Seconds between points.")] = 900.0,
) -> OccupancyOut:
    """Vehicles inside over time and now (aggregated: no plate data, no purpose needed)."""
    end = end or utcnow()
    if start is None:
        try:
            start = end - timedelta(hours=24)
        except OverflowError:  # an end in the first day of year 1
            raise InvalidInputError(f"end {end.isoformat()}: too early to go 24 h back; give start") from None
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


def _sessions(
    session: Session, principal: Principal, car_park_id: int, search: SessionSearch, secret: str
) -> list[ParkingSessionOut]:
    plate_hash = _plate_hash(search.plate, secret)
    rows = lapi_parking.list_sessions(
        session, car_park_id=car_park_id, status=search.status, since=search.since, until=search.until,
        plate_hash=plate_hash, limit=search.limit,
    )  # fmt: skip
    read_ids = {rid for row in rows for rid in (row.entry_read_id, row.exit_read_id) if rid is not None}
    texts = dict(
        session.execute(select(PlateRead.id, PlateRead.plate_text).where(PlateRead.id.in_(read_ids))).all()
    )
    _audit(session, principal, "lapi.sessions.list", f"car_park:{car_park_id}", search.purpose,
           plate_filter=search.plate is not None, status=search.status, returned=len(rows))  # fmt: skip
    session.commit()
    return [_session_out(row, texts) for row in rows]


@router.get(
    "/lapi/car-parks/{car_park_id}/sessions",
    response_model=list[ParkingSessionOut],
    dependencies=[NoPlateQuery],
)
def list_sessions(
    car_park_id: IdPath,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    status_: Annotated[ParkingStatus | None, Query(alias="status")] = None,
    since: DateTimeIn | None = None,
    until: DateTimeIn | None = None,
    limit: Limit = 100,
) -> list[ParkingSessionOut]:
    """Sessions of a car park, latest first; to look up one plate, POST `…/sessions/search`."""
    search = query_search(
        SessionSearch, purpose=purpose, status=status_, since=since, until=until, limit=limit
    )
    return _sessions(session, principal, car_park_id, search, settings.secret_key.get_secret_value())


@router.post("/lapi/car-parks/{car_park_id}/sessions/search", response_model=list[ParkingSessionOut])
def search_sessions(
    car_park_id: IdPath,
    search: SessionSearch,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
) -> list[ParkingSessionOut]:
    """Sessions of a car park filtered by plate (in the body, never in the URL), status and time."""
    return _sessions(session, principal, car_park_id, search, settings.secret_key.get_secret_value())


@router.post("/lapi/sessions/{session_id}/paid", response_model=ParkingSessionOut)
def mark_session_paid(session_id: IdPath, session: SessionDep, principal: ParkingRole) -> ParkingSessionOut:
    """Record the payment of a session (pay station); the next purge then anonymises it if closed."""
    row = lapi_parking.mark_paid(session, session_id=session_id)
    _audit(session, principal, "lapi.session.paid", f"parking_session:{session_id}", "payment recorded")
    session.commit()
    return _session_out(row, {})  # no plate text in this answer


# --- reads --------------------------------------------------------------------------------------------


def _reads(session: Session, principal: Principal, search: ReadSearch, secret: str) -> list[PlateReadOut]:
    plate_hash = _plate_hash(search.plate, secret)
    rows = lapi_parking.list_reads(
        session, car_park_id=search.car_park_id, plate_hash=plate_hash, since=search.since,
        until=search.until, limit=search.limit,
    )  # fmt: skip
    target = "car_park:all" if search.car_park_id is None else f"car_park:{search.car_park_id}"
    _audit(session, principal, "lapi.reads.list", target, search.purpose,
           plate_filter=search.plate is not None, returned=len(rows))  # fmt: skip
    session.commit()
    return [PlateReadOut.model_validate(row) for row in rows]


@router.get("/lapi/reads", response_model=list[PlateReadOut], dependencies=[NoPlateQuery])
def list_reads(
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    car_park_id: IdQuery = None,
    since: DateTimeIn | None = None,
    until: DateTimeIn | None = None,
    limit: Limit = 100,
) -> list[PlateReadOut]:
    """Plate reads, latest first; to look up one plate, POST `/lapi/reads/search`."""
    search = query_search(
        ReadSearch, purpose=purpose, car_park_id=car_park_id, since=since, until=until, limit=limit
    )
    return _reads(session, principal, search, settings.secret_key.get_secret_value())


@router.post("/lapi/reads/search", response_model=list[PlateReadOut])
def search_reads(
    search: ReadSearch, session: SessionDep, settings: SettingsDep, principal: ParkingRole
) -> list[PlateReadOut]:
    """Plate reads filtered by plate (in the body, never in the URL), car park and time."""
    return _reads(session, principal, search, settings.secret_key.get_secret_value())


# --- subscribers --------------------------------------------------------------------------------------


def _subscribers(
    session: Session, principal: Principal, car_park_id: int, search: SubscriberSearch, secret: str
) -> list[SubscriberRead]:
    plate_hash = _plate_hash(search.plate, secret)
    rows = lapi_subscribers.list_subscribers(
        session, car_park_id=car_park_id, plate_hash=plate_hash, valid_at=search.valid_at
    )
    _audit(session, principal, "lapi.subscribers.list", f"car_park:{car_park_id}", search.purpose,
           plate_filter=search.plate is not None, returned=len(rows))  # fmt: skip
    session.commit()
    return [SubscriberRead.model_validate(row) for row in rows]


@router.get(
    "/lapi/car-parks/{car_park_id}/subscribers",
    response_model=list[SubscriberRead],
    dependencies=[NoPlateQuery],
)
def list_subscribers(
    car_park_id: IdPath,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    valid_at: DateTimeIn | None = None,
) -> list[SubscriberRead]:
    """Subscriptions of a car park; to look up one plate, POST `…/subscribers/search`."""
    search = query_search(SubscriberSearch, purpose=purpose, valid_at=valid_at)
    return _subscribers(session, principal, car_park_id, search, settings.secret_key.get_secret_value())


@router.post("/lapi/car-parks/{car_park_id}/subscribers/search", response_model=list[SubscriberRead])
def search_subscribers(
    car_park_id: IdPath,
    search: SubscriberSearch,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
) -> list[SubscriberRead]:
    """Subscriptions of a car park filtered by plate (in the body, never in the URL) and validity date."""
    return _subscribers(session, principal, car_park_id, search, settings.secret_key.get_secret_value())


@router.post(
    "/lapi/car-parks/{car_park_id}/subscribers",
    response_model=SubscriberRead,
    status_code=status.HTTP_201_CREATED,
)
def create_subscriber(
    car_park_id: IdPath,
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
    car_park_id: IdPath,
    subscriber_id: IdPath,
    purpose: PurposeQuery,
    session: SessionDep,
    principal: ParkingRole,
) -> SubscriberRead:
    row = lapi_subscribers.get_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id)
    _audit(session, principal, "lapi.subscribers.get", f"parking_subscriber:{subscriber_id}", purpose)
    session.commit()
    return SubscriberRead.model_validate(row)


@router.put("/lapi/car-parks/{car_park_id}/subscribers/{subscriber_id}", response_model=SubscriberRead)
def update_subscriber(
    car_park_id: IdPath,
    subscriber_id: IdPath,
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
    car_park_id: IdPath,
    subscriber_id: IdPath,
    purpose: PurposeQuery,
    session: SessionDep,
    principal: ParkingRole,
) -> Response:
    lapi_subscribers.delete_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id)
    _audit(session, principal, "lapi.subscribers.delete", f"parking_subscriber:{subscriber_id}", purpose)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def capped_csv_body(request: Request) -> bytes:
    """The request body, read as a stream and refused (413) past MAX_IMPORT_BYTES, never loaded whole."""
    too_large = HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE,
        f"subscriber file: more than {MAX_IMPORT_BYTES} bytes; split it into smaller files",
    )
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInputError(f"Content-Length {declared!r}: expected a number of bytes")
        if int(declared) > MAX_IMPORT_BYTES:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_IMPORT_BYTES:  # chunked upload, or a Content-Length that lied
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/lapi/car-parks/{car_park_id}/subscribers/import",
    response_model=ImportReport,
    openapi_extra={
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}, "required": True}
    },
    responses={413: {"description": f"Body over {MAX_IMPORT_BYTES} bytes."}},
)
def import_subscribers(
    car_park_id: IdPath,
    purpose: PurposeQuery,
    session: SessionDep,
    settings: SettingsDep,
    principal: ParkingRole,
    body: Annotated[bytes, Depends(capped_csv_body)],
) -> ImportReport:
    """Import a CSV body (`plate,valid_from,valid_to,reference`): good rows stored, bad rows listed.

    A plain `def`: the body is read (async, capped) by its dependency, the database work runs in the
    threadpool, off the event loop. Rejected rows come back with their plate masked.
    """
    text = lapi_subscribers.decode_subscriber_file(body)
    report = lapi_subscribers.import_subscribers_csv(
        session, car_park_id=car_park_id, text=text, secret=settings.secret_key.get_secret_value()
    )
    _audit(session, principal, "lapi.subscribers.import", f"car_park:{car_park_id}", purpose,
           imported=report.imported, rejected=len(report.rejected))  # fmt: skip
    session.commit()
    return report


# --- retention ----------------------------------------------------------------------------------------


@router.post("/lapi/purge", response_model=PurgeReport)
def purge_plate_data(session: SessionDep, principal: ParkingRole, car_park_id: IdQuery = None) -> PurgeReport:
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
