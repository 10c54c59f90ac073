"""Subscribers of a car park: plates with validity periods, checked at each read; CSV import.

Keyword-only functions over a session; they flush, the caller commits. Plates are stored as keyed hashes,
with clear text only where the car park's policy allows it.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.lapi_plates import hash_plate, mask_plate, parse_plate_input
from vigie.services.lapi_schemas import ImportReport, RejectedRow, SubscriberIn
from vigie.store.models import CarPark, ParkingSubscriber, Site
from vigie.store.types import ensure_utc

MAX_IMPORT_ROWS = 50_000
IMPORT_COLUMNS = ("plate", "valid_from", "valid_to", "reference")
_FRENCH_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _car_park(session: Session, car_park_id: int) -> CarPark:
    row = session.get(CarPark, car_park_id)
    if row is None:
        raise NotFoundError(f"car park id {car_park_id} does not exist")
    return row


def is_subscriber(session: Session, *, car_park_id: int, plate_hash: str, at: datetime) -> bool:
    """True if the plate has a subscription to the car park valid at `at` (valid_from ≤ at < valid_to)."""
    at = ensure_utc(at, what="read time")
    found = session.scalar(
        select(ParkingSubscriber.id)
        .where(
            ParkingSubscriber.car_park_id == car_park_id,
            ParkingSubscriber.plate_hash == plate_hash,
            ParkingSubscriber.valid_from <= at,
            (ParkingSubscriber.valid_to.is_(None)) | (ParkingSubscriber.valid_to > at),
        )
        .limit(1)
    )
    return found is not None


def _duplicate(session: Session, car_park_id: int, plate_hash: str, valid_from: datetime) -> int | None:
    return session.scalar(
        select(ParkingSubscriber.id).where(
            ParkingSubscriber.car_park_id == car_park_id,
            ParkingSubscriber.plate_hash == plate_hash,
            ParkingSubscriber.valid_from == valid_from,
        )
    )


def create_subscriber(
    session: Session, *, car_park_id: int, data: SubscriberIn, secret: str
) -> ParkingSubscriber:
    car_park = _car_park(session, car_park_id)
    plate = parse_plate_input(data.plate)
    plate_hash = hash_plate(plate.compact, secret)
    existing = _duplicate(session, car_park.id, plate_hash, data.valid_from)
    if existing is not None:
        raise ConflictError(
            f"car park {car_park.slug!r} already has this plate from {data.valid_from.isoformat()} "
            f"(id {existing})"
        )
    row = ParkingSubscriber(
        car_park_id=car_park.id,
        plate_hash=plate_hash,
        plate_text=plate.display if car_park.store_clear_text else None,
        plate_format=plate.format,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        reference=data.reference,
    )
    session.add(row)
    session.flush()
    return row


def get_subscriber(session: Session, *, car_park_id: int, subscriber_id: int) -> ParkingSubscriber:
    row = session.get(ParkingSubscriber, subscriber_id)
    if row is None or row.car_park_id != car_park_id:
        _car_park(session, car_park_id)
        raise NotFoundError(f"car park id {car_park_id} has no subscriber id {subscriber_id}")
    return row


def list_subscribers(
    session: Session, *, car_park_id: int, plate_hash: str | None = None, valid_at: datetime | None = None
) -> list[ParkingSubscriber]:
    _car_park(session, car_park_id)
    query = select(ParkingSubscriber).where(ParkingSubscriber.car_park_id == car_park_id)
    if plate_hash is not None:
        query = query.where(ParkingSubscriber.plate_hash == plate_hash)
    if valid_at is not None:
        at = ensure_utc(valid_at, what="valid_at")
        query = query.where(
            ParkingSubscriber.valid_from <= at,
            (ParkingSubscriber.valid_to.is_(None)) | (ParkingSubscriber.valid_to > at),
        )
    return list(session.scalars(query.order_by(ParkingSubscriber.id)))


def update_subscriber(
    session: Session, *, car_park_id: int, subscriber_id: int, data: SubscriberIn, secret: str
) -> ParkingSubscriber:
    """Replace a subscription's plate, validity and reference."""
    row = get_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id)
    car_park = _car_park(session, car_park_id)
    plate = parse_plate_input(data.plate)
    row.plate_hash = hash_plate(plate.compact, secret)
    row.plate_text = plate.display if car_park.store_clear_text else None
    row.plate_format = plate.format
    row.valid_from = data.valid_from
    row.valid_to = data.valid_to
    row.reference = data.reference
    session.flush()
    return row


def delete_subscriber(session: Session, *, car_park_id: int, subscriber_id: int) -> None:
    session.delete(get_subscriber(session, car_park_id=car_park_id, subscriber_id=subscriber_id))
    session.flush()


# --- CSV import ---------------------------------------------------------------------------------------


def _parse_moment(value: str, zone: ZoneInfo, *, end: bool) -> datetime:
    """ISO datetime, ISO date or dd/mm/yyyy; a date means local midnight (the next day's, for an end)."""
    value = value.strip()
    french = _FRENCH_DATE.match(value)
    if french:
        day, month, year = (int(g) for g in french.groups())
        value = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        if len(value) == 10:
            day_ = date.fromisoformat(value)
            local = datetime.combine(day_ + timedelta(days=1) if end else day_, time(0), tzinfo=zone)
            return ensure_utc(local)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone)
        return ensure_utc(moment)
    # The day after 9999-12-31 overflows; so does year 1 or 9999 once in UTC (ensure_utc's InvalidInputError,
    # caught here before ValueError, its base class).
    except (OverflowError, InvalidInputError) as exc:
        hint = "; leave valid_to empty for an open-ended subscription" if end else ""
        raise InvalidInputError(f"{value!r} is too close to year 1 or 9999 to be stored{hint}") from exc
    except ValueError as exc:
        raise InvalidInputError(
            f"{value!r} is not a date (YYYY-MM-DD or DD/MM/YYYY) nor a datetime with offset"
        ) from exc


def decode_subscriber_file(raw: bytes) -> str:
    """UTF-8, else cp1252 (spreadsheets saved as "CSV (Windows)"); InvalidInputError when neither fits."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"subscriber file: byte 0x{raw[exc.start]:02x} at offset {exc.start} is neither UTF-8 nor "
            "Windows-1252 text; expected a CSV saved as UTF-8"
        ) from exc


@contextmanager
def _csv_errors(reader: csv.DictReader[str]) -> Iterator[None]:
    """A file the csv module cannot parse (a cell over its size limit...) is the file's fault: a 422.
    `line_num` counts the lines read before the failing one."""
    try:
        yield
    except csv.Error as exc:
        raise InvalidInputError(
            f"subscriber file line {reader.line_num + 1}: not readable as CSV ({exc}); "
            "expected a CSV saved as UTF-8"
        ) from exc


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str | Any, str | Any]]:
    with _csv_errors(reader):
        yield from reader


def import_subscribers_csv(session: Session, *, car_park_id: int, text: str, secret: str) -> ImportReport:
    """Import a CSV of subscriptions: valid rows are stored, bad rows listed with their reason.

    Columns (header required, `,` or `;`): plate, valid_from, valid_to (optional, empty = open-ended; a
    date is inclusive), reference (optional). Dates without a zone are in the site's time zone.
    """
    car_park = _car_park(session, car_park_id)
    zone = ZoneInfo(
        session.scalar(select(Site.timezone).where(Site.id == car_park.site_id)) or "Europe/Paris"
    )
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or not lines[0].strip():
        raise InvalidInputError(
            "subscriber file: empty; expected a header line 'plate,valid_from,valid_to,reference'"
        )
    delimiter = ";" if lines[0].count(";") > lines[0].count(",") else ","
    reader = csv.DictReader(io.StringIO("\n".join(lines)), delimiter=delimiter)
    with _csv_errors(reader):
        header = [h.strip().lower() for h in reader.fieldnames or []]
    missing = [c for c in ("plate", "valid_from") if c not in header]
    unknown = [h for h in header if h not in IMPORT_COLUMNS]
    if missing or unknown:
        raise InvalidInputError(
            f"subscriber file header {header}: missing {missing}, unknown {unknown}; "
            f"expected columns {list(IMPORT_COLUMNS)} (valid_to and reference optional)"
        )
    reader.fieldnames = header
    rejected: list[RejectedRow] = []
    imported = 0
    seen: set[tuple[str, datetime]] = set()
    for index, raw in enumerate(_csv_rows(reader)):
        line = index + 2
        if index >= MAX_IMPORT_ROWS:
            raise InvalidInputError(f"subscriber file: more than {MAX_IMPORT_ROWS} rows; split it")
        cells = {k: (v.strip() if isinstance(v, str) else None) for k, v in raw.items() if k is not None}
        # Rejected rows go back to the caller (API answer, CLI output): never with the plate in clear.
        shown = (cells | {"plate": mask_plate(cells["plate"])}) if cells.get("plate") else cells
        if None in raw:
            rejected.append(RejectedRow(line=line, reason="more cells than header columns", values=shown))
            continue
        if not any(cells.values()):
            continue  # blank line
        try:
            if not cells.get("valid_from"):
                raise InvalidInputError("valid_from is empty")
            valid_from = _parse_moment(cells["valid_from"] or "", zone, end=False)
            valid_to = _parse_moment(cells["valid_to"], zone, end=True) if cells.get("valid_to") else None
            data = SubscriberIn(
                plate=cells.get("plate") or "",
                valid_from=valid_from,
                valid_to=valid_to,
                reference=cells.get("reference") or None,
            )
        except InvalidInputError as exc:
            rejected.append(RejectedRow(line=line, reason=str(exc), values=shown))
            continue
        except ValidationError as exc:
            reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors())
            rejected.append(RejectedRow(line=line, reason=reason, values=shown))
            continue
        key = (hash_plate(data.plate, secret), data.valid_from)
        if key in seen:
            rejected.append(
                RejectedRow(line=line, reason="same plate and valid_from as an earlier row", values=shown)
            )
            continue
        seen.add(key)
        try:
            create_subscriber(session, car_park_id=car_park.id, data=data, secret=secret)
        except ConflictError as exc:
            rejected.append(RejectedRow(line=line, reason=str(exc), values=shown))
            continue
        imported += 1
    return ImportReport(imported=imported, rejected=rejected)
