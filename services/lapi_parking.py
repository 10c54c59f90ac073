"""Car parks, plate reads and parking sessions: entry/exit matching, overstays, occupancy over time.

Keyword-only functions over a session; they flush, the caller commits. Plates arrive here already read and
corrected (`PassageRead`); this module hashes them, decides subscriber / visitor, and keeps sessions.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.lapi_plates import display_plate, hash_plate
from vigie.services.lapi_schemas import CarParkIn, CarParkUpdate, OccupancyOut, OccupancyPoint
from vigie.services.lapi_subscribers import is_subscriber
from vigie.services.sites import get_site
from vigie.store.models import CameraRole, CarPark, ParkingSession, ParkingStatus, PlateFormat, PlateRead
from vigie.store.types import ensure_utc, utcnow

log = logging.getLogger(__name__)

PRESENT = (ParkingStatus.OPEN, ParkingStatus.FLAGGED)
MAX_OCCUPANCY_POINTS = 2000  # a series is for a chart, not a dump


# --- car parks ----------------------------------------------------------------------------------------


def _policy_fields(data: CarParkIn | CarParkUpdate) -> dict[str, object]:
    values = data.model_dump(exclude_unset=isinstance(data, CarParkUpdate), exclude={"slug"})
    if "overstay_after_h" in values:
        hours = values.pop("overstay_after_h")
        values["overstay_after_s"] = None if hours is None else float(hours) * 3600.0
    return values


def create_car_park(session: Session, *, site_id: int, data: CarParkIn) -> CarPark:
    site = get_site(session, site_id=site_id)
    if session.scalar(select(CarPark.id).where(CarPark.site_id == site.id, CarPark.slug == data.slug)):
        raise ConflictError(f"site {site.slug!r} already has a car park {data.slug!r}")
    row = CarPark(site_id=site.id, slug=data.slug, **_policy_fields(data))
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"car park {data.slug!r} conflicts with stored data: {exc.orig}") from exc
    return row


def ensure_car_park(session: Session, *, site_id: int, data: CarParkIn) -> CarPark:
    """Create the car park or bring it in line with `data` (the site file is authoritative)."""
    row = session.scalar(select(CarPark).where(CarPark.site_id == site_id, CarPark.slug == data.slug))
    if row is None:
        return create_car_park(session, site_id=site_id, data=data)
    for key, value in _policy_fields(data).items():
        setattr(row, key, value)
    session.flush()
    return row


def get_car_park(session: Session, *, car_park_id: int) -> CarPark:
    row = session.get(CarPark, car_park_id)
    if row is None:
        raise NotFoundError(f"car park id {car_park_id} does not exist")
    return row


def list_car_parks(session: Session, *, site_id: int | None = None) -> list[CarPark]:
    query = select(CarPark).order_by(CarPark.site_id, CarPark.slug)
    if site_id is not None:
        get_site(session, site_id=site_id)
        query = query.where(CarPark.site_id == site_id)
    return list(session.scalars(query))


def update_car_park(session: Session, *, car_park_id: int, data: CarParkUpdate) -> CarPark:
    row = get_car_park(session, car_park_id=car_park_id)
    for key, value in _policy_fields(data).items():
        if value is None and key in (
            "name",
            "store_clear_text",
            "retention_days",
            "purge_when_paid",
            "exit_means_paid",
        ):
            raise InvalidInputError(f"car park field {key!r} cannot be null")
        setattr(row, key, value)
    session.flush()
    return row


def delete_car_park(session: Session, *, car_park_id: int) -> None:
    """Delete a car park with its sessions and subscribers; its reads stay until their retention ends."""
    session.delete(get_car_park(session, car_park_id=car_park_id))
    session.flush()


# --- reads and sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PassageRead:
    """One vehicle passage as the reader voted it: what `record_passage` stores."""

    text: str
    format: PlateFormat
    confidence: float
    read_at: datetime
    box: tuple[float, float, float, float]
    model_name: str
    model_version: str
    ocr_model_name: str | None = None
    ocr_model_version: str | None = None
    track_id: int | None = None
    raw_texts: Sequence[str] = field(default_factory=tuple)


class PassageOutcome(StrEnum):
    OPENED = "opened"  # an entry opened a session
    CLOSED = "closed"  # an exit closed the open session of the same plate
    DUPLICATE = "duplicate"  # the same plate at the same gate moments ago: read stored, session unchanged
    UNMATCHED_EXIT = "unmatched_exit"  # an exit with no open entry: flagged for review
    READ_ONLY = "read_only"  # patrol camera, or no car park


@dataclass(frozen=True, slots=True)
class PassageResult:
    read: PlateRead
    outcome: PassageOutcome
    parking_session: ParkingSession | None
    subscriber: bool | None


def _latest_present(
    session: Session, car_park_id: int, plate_hash: str, before: datetime
) -> ParkingSession | None:
    return session.scalar(
        select(ParkingSession)
        .where(
            ParkingSession.car_park_id == car_park_id,
            ParkingSession.plate_hash == plate_hash,
            ParkingSession.status.in_(PRESENT),
            ParkingSession.exit_at.is_(None),
            ParkingSession.entry_at <= before,
        )
        .order_by(ParkingSession.entry_at.desc())
        .limit(1)
    )


def _latest_exit(session: Session, car_park_id: int, plate_hash: str) -> ParkingSession | None:
    return session.scalar(
        select(ParkingSession)
        .where(
            ParkingSession.car_park_id == car_park_id,
            ParkingSession.plate_hash == plate_hash,
            ParkingSession.exit_at.is_not(None),
        )
        .order_by(ParkingSession.exit_at.desc())
        .limit(1)
    )


def record_passage(
    session: Session,
    *,
    camera_id: int,
    car_park_id: int | None,
    role: CameraRole,
    passage: PassageRead,
    secret: str,
    duplicate_window_s: float = 120.0,
    apply_parking: bool = True,
) -> PassageResult:
    """Store one plate read and apply the parking logic of the camera's role.

    entry: opens a session (a second entry of a plate still inside flags the earlier session, whose exit
    was missed; the same plate again within `duplicate_window_s` is a duplicate read).
    exit: closes the latest open entry of the same plate in the same car park; none → a flagged session
    with no duration (a missed entry read), so that staff see it and occupancy is not distorted.
    patrol: the read and its subscriber status only.
    apply_parking=False (a weak read): the read is stored for review, sessions are left alone.
    Clear text is stored only where the car park's policy allows it; no image is ever stored.
    """
    at = ensure_utc(passage.read_at, what="passage read_at")
    if not 0.0 <= passage.confidence <= 1.0:
        raise InvalidInputError(f"passage confidence: expected 0..1, got {passage.confidence}")
    car_park = None if car_park_id is None else get_car_park(session, car_park_id=car_park_id)
    plate_hash = hash_plate(passage.text, secret)
    subscriber = (
        None
        if car_park is None
        else is_subscriber(session, car_park_id=car_park.id, plate_hash=plate_hash, at=at)
    )
    clear = car_park is not None and car_park.store_clear_text
    x1, y1, x2, y2 = (float(v) for v in passage.box)
    read = PlateRead(
        camera_id=camera_id, car_park_id=None if car_park is None else car_park.id, role=role, read_at=at,
        plate_hash=plate_hash, plate_text=display_plate(passage.text)[:16] if clear else None,
        plate_format=passage.format, confidence=float(passage.confidence), track_id=passage.track_id,
        subscriber=subscriber, x1=x1, y1=y1, x2=x2, y2=y2,
        model_name=passage.model_name, model_version=passage.model_version,
        ocr_model_name=passage.ocr_model_name, ocr_model_version=passage.ocr_model_version,
    )  # fmt: skip
    if clear:  # left unset otherwise: SQL NULL, not a JSON null
        read.raw_texts = [str(t)[:32] for t in passage.raw_texts][:20]
    session.add(read)
    session.flush()
    if car_park is None or not apply_parking or role not in (CameraRole.ENTRY, CameraRole.EXIT):
        return PassageResult(read, PassageOutcome.READ_ONLY, None, subscriber)
    window = timedelta(seconds=duplicate_window_s)

    if role is CameraRole.ENTRY:
        inside = _latest_present(session, car_park.id, plate_hash, at)
        if inside is not None and at - inside.entry_at <= window:
            return PassageResult(read, PassageOutcome.DUPLICATE, inside, subscriber)
        if inside is not None:
            # Seen entering again: its exit was missed. The new entry bounds the stay; duration unknown.
            inside.status = ParkingStatus.FLAGGED
            inside.exit_at = at
            inside.duration_s = None
            inside.flag_reason = f"entered again at {at.isoformat(timespec='seconds')} without an exit read"
        opened = ParkingSession(
            site_id=car_park.site_id, car_park_id=car_park.id, plate_hash=plate_hash, entry_read_id=read.id,
            entry_at=at, status=ParkingStatus.OPEN, subscriber=bool(subscriber), paid=False,
        )  # fmt: skip
        session.add(opened)
        session.flush()
        return PassageResult(read, PassageOutcome.OPENED, opened, subscriber)

    inside = _latest_present(session, car_park.id, plate_hash, at)
    if inside is not None:
        inside.exit_at = at
        inside.exit_read_id = read.id
        inside.duration_s = (at - inside.entry_at).total_seconds()
        inside.status = ParkingStatus.CLOSED  # a flag reason, if any, stays as history
        inside.paid = inside.paid or inside.subscriber or car_park.exit_means_paid
        session.flush()
        return PassageResult(read, PassageOutcome.CLOSED, inside, subscriber)
    left = _latest_exit(session, car_park.id, plate_hash)
    if left is not None and left.exit_at is not None and abs(at - left.exit_at) <= window:
        return PassageResult(read, PassageOutcome.DUPLICATE, left, subscriber)
    orphan = ParkingSession(
        site_id=car_park.site_id, car_park_id=car_park.id, plate_hash=plate_hash, exit_read_id=read.id,
        entry_at=at, exit_at=at, duration_s=None, status=ParkingStatus.FLAGGED,
        flag_reason="exit without a matching entry read", subscriber=bool(subscriber),
        paid=bool(subscriber) or car_park.exit_means_paid,
    )  # fmt: skip
    session.add(orphan)
    session.flush()
    return PassageResult(read, PassageOutcome.UNMATCHED_EXIT, orphan, subscriber)


def flag_overstays(session: Session, *, now: datetime | None = None, car_park_id: int | None = None) -> int:
    """Flag open sessions older than their car park's `overstay_after_s`; returns how many were flagged."""
    now = utcnow() if now is None else ensure_utc(now, what="now")
    query = select(CarPark).where(CarPark.overstay_after_s.is_not(None))
    if car_park_id is not None:
        query = query.where(CarPark.id == car_park_id)
    flagged = 0
    for car_park in session.scalars(query):
        limit = now - timedelta(seconds=float(car_park.overstay_after_s or 0))
        hours = (car_park.overstay_after_s or 0) / 3600
        for row in session.scalars(
            select(ParkingSession).where(
                ParkingSession.car_park_id == car_park.id,
                ParkingSession.status == ParkingStatus.OPEN,
                ParkingSession.exit_at.is_(None),
                ParkingSession.entry_at < limit,
            )
        ):
            row.status = ParkingStatus.FLAGGED
            row.flag_reason = f"no exit read {hours:g} h after entry"
            flagged += 1
    session.flush()
    return flagged


def mark_paid(session: Session, *, session_id: int) -> ParkingSession:
    row = session.get(ParkingSession, session_id)
    if row is None:
        raise NotFoundError(f"parking session id {session_id} does not exist")
    row.paid = True
    session.flush()
    return row


def list_sessions(
    session: Session,
    *,
    car_park_id: int,
    status: ParkingStatus | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    plate_hash: str | None = None,
    limit: int = 100,
) -> list[ParkingSession]:
    get_car_park(session, car_park_id=car_park_id)
    query = select(ParkingSession).where(ParkingSession.car_park_id == car_park_id)
    if status is not None:
        query = query.where(ParkingSession.status == status)
    if since is not None:
        query = query.where(ParkingSession.entry_at >= ensure_utc(since, what="since"))
    if until is not None:
        query = query.where(ParkingSession.entry_at < ensure_utc(until, what="until"))
    if plate_hash is not None:
        query = query.where(ParkingSession.plate_hash == plate_hash)
    return list(session.scalars(query.order_by(ParkingSession.entry_at.desc()).limit(limit)))


def list_reads(
    session: Session,
    *,
    car_park_id: int | None = None,
    plate_hash: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[PlateRead]:
    query = select(PlateRead)
    if car_park_id is not None:
        get_car_park(session, car_park_id=car_park_id)
        query = query.where(PlateRead.car_park_id == car_park_id)
    if plate_hash is not None:
        query = query.where(PlateRead.plate_hash == plate_hash)
    if since is not None:
        query = query.where(PlateRead.read_at >= ensure_utc(since, what="since"))
    if until is not None:
        query = query.where(PlateRead.read_at < ensure_utc(until, what="until"))
    return list(session.scalars(query.order_by(PlateRead.read_at.desc()).limit(limit)))


# --- occupancy ----------------------------------------------------------------------------------------


def occupancy(
    session: Session,
    *,
    car_park_id: int,
    start: datetime,
    end: datetime,
    step_s: float,
    now: datetime | None = None,
) -> OccupancyOut:
    """Vehicles inside at each step of [start, end] (entry ≤ t < exit), and now.

    A session without exit counts until it is closed or bounded; flagged ones count (the car may still be
    there) and are also given apart in `flagged_now`.
    """
    car_park = get_car_park(session, car_park_id=car_park_id)
    start, end = ensure_utc(start, what="start"), ensure_utc(end, what="end")
    now = utcnow() if now is None else ensure_utc(now, what="now")
    if end <= start:
        raise InvalidInputError(
            f"occupancy: end ({end.isoformat()}) must be after start ({start.isoformat()})"
        )
    if step_s <= 0:
        raise InvalidInputError(f"occupancy: step_s must be positive, got {step_s}")
    # Compared as floats first: a tiny step makes the count infinite, which int() refuses.
    steps = (end - start).total_seconds() // step_s
    if steps + 1 > MAX_OCCUPANCY_POINTS:
        raise InvalidInputError(
            f"occupancy: at most {MAX_OCCUPANCY_POINTS} points from start to end, and step_s {step_s:g} s "
            f"gives more; expected at least {(end - start).total_seconds() / (MAX_OCCUPANCY_POINTS - 1):g} s"
        )
    points = int(steps) + 1
    horizon = max(end, now)
    stays = session.execute(
        select(ParkingSession.entry_at, ParkingSession.exit_at, ParkingSession.status).where(
            ParkingSession.car_park_id == car_park.id,
            ParkingSession.entry_at <= horizon,
            (ParkingSession.exit_at.is_(None)) | (ParkingSession.exit_at > start),
        )
    ).all()

    def inside(t: datetime) -> list[ParkingStatus]:
        return [s for entry, exit_, s in stays if entry <= t and (exit_ is None or t < exit_)]

    series = [
        OccupancyPoint(at=t, occupied=len(inside(t)))
        for t in (start + timedelta(seconds=i * step_s) for i in range(points))
    ]
    present = inside(now)
    occupied = len(present)
    return OccupancyOut(
        car_park_id=car_park.id,
        capacity=car_park.capacity,
        occupied_now=occupied,
        flagged_now=sum(1 for s in present if s is ParkingStatus.FLAGGED),
        free_now=None if car_park.capacity is None else max(car_park.capacity - occupied, 0),
        series=series,
    )
