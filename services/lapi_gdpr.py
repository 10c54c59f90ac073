"""GDPR by design for plate data: the audit trail of every access, and the retention purge.

Retention, per car park (`CarPark` policy columns):
- a session closed and paid (`purge_when_paid`): its reads are deleted and its plate hash cleared at once;
- whatever the state, reads older than `retention_days` are deleted, and sessions that ended (or, for ones
  never closed, started) more than `retention_days` ago are anonymised; open sessions younger than that keep
  their hash, which is what matches the exit;
- subscriptions that ended more than `retention_days` ago are deleted;
- where `store_clear_text` is off, any clear text left from an earlier policy is cleared.
Anonymised sessions keep their times, duration and status: occupancy statistics survive the purge.
Reads of cameras outside any car park follow `default_retention_days`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, null, or_, select, update
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError
from vigie.services.lapi_parking import flag_overstays
from vigie.services.lapi_schemas import PurgeReport
from vigie.store.models import AuditLog, CarPark, ParkingSession, ParkingStatus, ParkingSubscriber, PlateRead
from vigie.store.types import ensure_utc, utcnow

MIN_PURPOSE_CHARS = 3


def audit_plate_access(
    session: Session,
    *,
    actor: str,
    action: str,
    object: str,
    purpose: str | None,
    details: dict[str, Any] | None = None,
) -> AuditLog:
    """Write who accessed which plate data and why; a missing or empty purpose is refused."""
    purpose = (purpose or "").strip()
    if len(purpose) < MIN_PURPOSE_CHARS:
        raise InvalidInputError(
            f"purpose: access to plate data needs a purpose of at least {MIN_PURPOSE_CHARS} characters "
            "(e.g. 'contestation FPS 2026-118'), got " + (repr(purpose) if purpose else "none")
        )
    row = AuditLog(actor=actor, action=action, object=object, purpose=purpose, details=details)
    session.add(row)
    session.flush()
    return row


def _delete_reads(session: Session, condition: Any) -> int:
    ids = list(session.scalars(select(PlateRead.id).where(condition)))
    if not ids:
        return 0
    # Sessions reference reads with ON DELETE SET NULL; clear them explicitly too, so that the ORM's
    # identity map (and SQLite without foreign keys) agree with the database.
    for column in (ParkingSession.entry_read_id, ParkingSession.exit_read_id):
        session.execute(update(ParkingSession).where(column.in_(ids)).values({column.key: None}))
    session.execute(delete(PlateRead).where(PlateRead.id.in_(ids)))
    return len(ids)


def purge(
    session: Session,
    *,
    now: datetime | None = None,
    car_park_id: int | None = None,
    default_retention_days: int = 7,
    actor: str = "system",
) -> PurgeReport:
    """Apply every car park's retention policy now; also flags overstays. Writes one audit row."""
    now = utcnow() if now is None else ensure_utc(now, what="now")
    if default_retention_days < 0:
        raise InvalidInputError(f"default_retention_days: expected >= 0, got {default_retention_days}")
    report = PurgeReport(sessions_flagged=flag_overstays(session, now=now, car_park_id=car_park_id))
    query = select(CarPark).order_by(CarPark.id)
    if car_park_id is not None:
        query = query.where(CarPark.id == car_park_id)
    car_parks = list(session.scalars(query))
    for car_park in car_parks:
        limit = now - timedelta(days=car_park.retention_days)
        of_park = ParkingSession.car_park_id == car_park.id
        if car_park.purge_when_paid:
            done = select(ParkingSession.id).where(
                of_park, ParkingSession.status == ParkingStatus.CLOSED, ParkingSession.paid.is_(True),
                ParkingSession.plate_hash.is_not(None),
            )  # fmt: skip
            done_ids = list(session.scalars(done))
            if done_ids:
                read_ids = [
                    rid
                    for pair in session.execute(
                        select(ParkingSession.entry_read_id, ParkingSession.exit_read_id).where(
                            ParkingSession.id.in_(done_ids)
                        )
                    )
                    for rid in pair
                    if rid is not None
                ]
                report.reads_deleted += _delete_reads(session, PlateRead.id.in_(read_ids))
                report.sessions_anonymised += session.execute(
                    update(ParkingSession).where(ParkingSession.id.in_(done_ids)).values(plate_hash=None)
                ).rowcount
        report.reads_deleted += _delete_reads(
            session, (PlateRead.car_park_id == car_park.id) & (PlateRead.read_at < limit)
        )
        ended_long_ago = or_(
            ParkingSession.exit_at < limit,
            (ParkingSession.exit_at.is_(None)) & (ParkingSession.entry_at < limit),
        )
        report.sessions_anonymised += session.execute(
            update(ParkingSession)
            .where(of_park, ParkingSession.plate_hash.is_not(None), ended_long_ago)
            .values(plate_hash=None)
        ).rowcount
        report.subscribers_deleted += session.execute(
            delete(ParkingSubscriber).where(
                ParkingSubscriber.car_park_id == car_park.id,
                ParkingSubscriber.valid_to.is_not(None),
                ParkingSubscriber.valid_to < limit,
            )
        ).rowcount
        if not car_park.store_clear_text:
            report.clear_text_cleared += session.execute(
                update(PlateRead)
                .where(
                    PlateRead.car_park_id == car_park.id,
                    or_(PlateRead.plate_text.is_not(None), PlateRead.raw_texts.is_not(None)),
                )
                .values(plate_text=None, raw_texts=null())  # SQL NULL, not JSON null
            ).rowcount
            report.clear_text_cleared += session.execute(
                update(ParkingSubscriber)
                .where(
                    ParkingSubscriber.car_park_id == car_park.id, ParkingSubscriber.plate_text.is_not(None)
                )
                .values(plate_text=None)
            ).rowcount
    if car_park_id is None:
        limit = now - timedelta(days=default_retention_days)
        report.reads_deleted += _delete_reads(
            session, PlateRead.car_park_id.is_(None) & (PlateRead.read_at < limit)
        )
    session.expire_all()  # bulk statements bypass the identity map
    session.add(
        AuditLog(
            actor=actor,
            action="lapi.purge",
            object="car_park:all" if car_park_id is None else f"car_park:{car_park_id}",
            purpose="retention policy",
            details=report.model_dump(),
        )
    )
    session.flush()
    return report
