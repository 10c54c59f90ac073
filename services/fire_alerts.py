"""Fire alerts: creation/merging by event id, the status life cycle, and the daily fire-danger level.

Used by the fire pipeline's writes (in the worker's writer thread) and by the HTTP API. Keyword-only
functions over a session: they flush, callers commit. A frame that a merge replaces is deleted only once
the caller's transaction commits (`upsert_alert(..., data_dir=...)`), so a rollback keeps the stored one.

Life cycle (who and when recorded in `alert_events`):

    new ──► acknowledged ──► confirmed ──► closed
     │           │      └──► false_alarm ─► closed
     ├──► confirmed / false_alarm
     └── any open status ──► closed
"""

from __future__ import annotations

import functools
import logging
import math
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from shapely.geometry import Point, Polygon
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.store.db import call_after_commit
from vigie.store.models import Alert, AlertEvent, AlertKind, AlertStatus, FireDangerLevel, Site
from vigie.store.types import ensure_utc, utcnow

logger = logging.getLogger(__name__)

DEFAULT_DANGER_LEVEL = 3  # "moderate": used when the watch room set nothing for the day
DEFAULT_TIMEZONE = "Europe/Paris"
SYSTEM_ACTOR = "pipeline"  # actor of the creation event when the caller names none

# Statuses an operator still has to act on (shown by the console); false alarms wait only to be closed.
ACTIVE_STATUSES = (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED)
OPEN_STATUSES = frozenset(AlertStatus) - {AlertStatus.CLOSED}
LEGAL_TRANSITIONS: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.NEW: frozenset(
        {AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED, AlertStatus.FALSE_ALARM, AlertStatus.CLOSED}
    ),
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.CONFIRMED, AlertStatus.FALSE_ALARM, AlertStatus.CLOSED}),
    AlertStatus.CONFIRMED: frozenset({AlertStatus.CLOSED}),
    AlertStatus.FALSE_ALARM: frozenset({AlertStatus.CLOSED}),
    AlertStatus.CLOSED: frozenset(),
}
# Operator labels that make an alert usable as training data (see services/fire_export.py).
LABEL_STATUSES = (AlertStatus.CONFIRMED, AlertStatus.FALSE_ALARM)
BEARING_KEYS = ("camera_id", "azimuth_deg")
# A camera that saw the event but gives no direction: its bearing is {azimuth_deg: None, reason: ...}.
NO_HEADING = "camera has no heading"
NO_FIELD_OF_VIEW = "camera has no field of view"
MAX_REASON_CHARS = 200


@dataclass(kw_only=True)
class AlertDraft:
    """What a pipeline (or a remote worker through the API) knows about one smoke/fire event.

    `public_id` identifies the event: drafts with the same id are merged into one alert. Positions are
    WGS84: `location` is (longitude, latitude), `uncertainty` a shapely Polygon in lon/lat. Each bearing is
    a dict {camera_id, camera, azimuth_deg, left_deg, right_deg, range_m, seen_at}, or, for a camera that
    cannot give a direction (no heading), {camera_id, camera, azimuth_deg: None, reason, seen_at} with the
    reason in words (`NO_HEADING`, `NO_FIELD_OF_VIEW`); `frame_path` is a JPEG
    path relative to `settings.data_dir` and `frame_box` the [x1, y1, x2, y2] pixel box in it.
    """

    public_id: str
    site_id: int | None
    kind: AlertKind | str
    first_seen_at: datetime
    last_seen_at: datetime
    model_name: str
    model_version: str
    location: tuple[float, float] | None = None
    uncertainty: Polygon | None = None
    bearings: list[dict[str, Any]] = field(default_factory=list)
    cameras: list[int] = field(default_factory=list)
    confidence: float | None = None
    danger_level: int | str | None = None
    calibration_version: str | None = None
    frame_path: str | None = None
    frame_box: Sequence[float] | None = None
    frame_camera_id: int | None = None


# --- validation ---------------------------------------------------------------------------------------


def _check_draft(draft: AlertDraft) -> tuple[AlertKind, datetime, datetime]:
    what = f"alert {draft.public_id!r}"
    if not draft.public_id or len(draft.public_id) > 36:
        raise InvalidInputError(f"public_id {draft.public_id!r}: expected 1 to 36 characters")
    try:
        kind = AlertKind(draft.kind)
    except ValueError as exc:
        raise InvalidInputError(f"{what}: kind {draft.kind!r}: expected smoke or fire") from exc
    first = ensure_utc(draft.first_seen_at, what=f"{what} first_seen_at")
    last = ensure_utc(draft.last_seen_at, what=f"{what} last_seen_at")
    if last < first:
        raise InvalidInputError(f"{what}: last_seen_at {last.isoformat()} is before first_seen_at")
    if draft.confidence is not None and not 0 <= draft.confidence <= 1:
        raise InvalidInputError(f"{what}: confidence {draft.confidence}: expected 0..1")
    if draft.location is not None:
        lon, lat = draft.location
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise InvalidInputError(
                f"{what}: location {draft.location}: expected (longitude, latitude) in degrees"
            )
    if draft.uncertainty is not None and not isinstance(draft.uncertainty, Polygon):
        raise InvalidInputError(f"{what}: uncertainty: expected a shapely Polygon in lon/lat")
    if draft.frame_box is not None:
        box = list(draft.frame_box)
        if (
            len(box) != 4
            or not all(math.isfinite(float(v)) for v in box)
            or box[2] <= box[0]
            or box[3] <= box[1]
        ):
            raise InvalidInputError(
                f"{what}: frame_box {box}: expected [x1, y1, x2, y2] with x2 > x1, y2 > y1"
            )
    if draft.frame_path is not None:
        path = PurePosixPath(draft.frame_path)
        if path.is_absolute() or ".." in path.parts or not draft.frame_path.strip():
            raise InvalidInputError(
                f"{what}: frame_path {draft.frame_path!r}: expected a path relative to the data directory"
            )
    for bearing in draft.bearings:
        _check_bearing(bearing, what)
    return kind, first, last


def has_azimuth(bearing: dict[str, Any]) -> bool:
    """True when a stored bearing gives a direction (False for a camera without heading)."""
    return bearing.get("azimuth_deg") is not None


def _check_bearing(bearing: Any, what: str) -> None:
    """A bearing has a finite azimuth, or `azimuth_deg: None` with the `reason` it is unknown."""
    if not isinstance(bearing, dict) or any(key not in bearing for key in BEARING_KEYS):
        keys = ", ".join(BEARING_KEYS)
        raise InvalidInputError(f"{what}: bearing {bearing!r}: expected a dict with {keys}")
    azimuth = bearing["azimuth_deg"]
    if azimuth is None:
        reason = bearing.get("reason")
        if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON_CHARS:
            raise InvalidInputError(
                f"{what}: bearing of camera {bearing['camera_id']} has no azimuth: expected a 'reason' "
                f"(1 to {MAX_REASON_CHARS} characters, e.g. {NO_HEADING!r}), got {reason!r}"
            )
        edges = {k: bearing.get(k) for k in ("left_deg", "right_deg") if bearing.get(k) is not None}
        if edges:
            raise InvalidInputError(
                f"{what}: bearing of camera {bearing['camera_id']} has no azimuth but cone edges {edges}: "
                "expected none"
            )
        return
    try:
        finite = math.isfinite(float(azimuth))
    except (TypeError, ValueError):
        finite = False
    if not finite:
        raise InvalidInputError(
            f"{what}: bearing azimuth {azimuth!r}: expected degrees, or null with a 'reason'"
        )


def _danger(value: int | str | None) -> str | None:
    return None if value is None else str(value)


def _json_safe(bearing: dict[str, Any]) -> dict[str, Any]:
    """Bearings go into a JSON column: datetimes become ISO strings, numpy scalars plain numbers."""
    out: dict[str, Any] = {}
    for key, value in bearing.items():
        if isinstance(value, datetime):
            out[key] = ensure_utc(value, what=f"bearing {key}").isoformat()
        elif hasattr(value, "item"):  # numpy scalar
            out[key] = value.item()
        else:
            out[key] = value
    return out


def write_frame(path: Path, jpeg: bytes) -> None:
    """Store an alert frame atomically: the console and the exports never read half a JPEG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(jpeg)
    tmp.replace(path)


def _seen_at(bearing: dict[str, Any]) -> datetime:
    """When a bearing was seen, as an aware UTC instant (ISO strings may carry any offset)."""
    value = bearing.get("seen_at")
    if value is None:
        return datetime.min.replace(tzinfo=UTC)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return ensure_utc(moment, what="bearing seen_at")


def _merge_bearings(stored: Iterable[dict[str, Any]], new: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bearing per camera: the most recently seen one wins (compared as instants, not as strings)."""
    by_camera: dict[Any, dict[str, Any]] = {}
    for bearing in [*stored, *new]:
        previous = by_camera.get(bearing["camera_id"])
        if previous is None or _seen_at(bearing) >= _seen_at(previous):
            by_camera[bearing["camera_id"]] = bearing
    return list(by_camera.values())


# --- alerts -------------------------------------------------------------------------------------------


def upsert_alert(
    session: Session, *, alert: AlertDraft, actor: str = SYSTEM_ACTOR, data_dir: Path | None = None
) -> tuple[Alert, bool]:
    """Create the alert of `alert.public_id`, or merge the draft into it; returns (alert, created).

    Merging never changes the status (an operator's decision stands while the plume is still seen): it
    widens the seen period, keeps one bearing per camera (the latest), adds cameras, takes the new
    location when the draft has one, escalates smoke to fire, and keeps the frame of the highest
    confidence. Nothing is written when the draft adds nothing, so `updated_at` moves only on change.

    data_dir: where frame paths live. When given, the file of a frame the merge replaces (another path)
    is deleted after the session's transaction commits; a rollback keeps it, since the row still points
    to it.
    """
    draft = alert
    kind, first, last = _check_draft(draft)
    bearings = [_json_safe(b) for b in draft.bearings]
    row = session.scalar(select(Alert).where(Alert.public_id == draft.public_id))
    if row is None:
        row = Alert(
            public_id=draft.public_id,
            site_id=draft.site_id,
            kind=kind,
            status=AlertStatus.NEW,
            first_seen_at=first,
            last_seen_at=last,
            location=None if draft.location is None else Point(*draft.location),
            uncertainty=draft.uncertainty,
            bearings=_merge_bearings([], bearings),
            cameras=list(dict.fromkeys(int(c) for c in draft.cameras)),
            confidence=draft.confidence,
            danger_level=_danger(draft.danger_level),
            model_name=draft.model_name,
            model_version=draft.model_version,
            calibration_version=draft.calibration_version,
            frame_path=draft.frame_path,
            frame_box=None if draft.frame_box is None else [float(v) for v in draft.frame_box],
            frame_camera_id=draft.frame_camera_id,
        )
        row.events.append(AlertEvent(at=utcnow(), actor=actor, from_status=None, to_status=AlertStatus.NEW))
        session.add(row)
        try:
            session.flush()
        except IntegrityError as exc:
            # Another writer created the same event between our read and our insert (the session must now
            # be rolled back; the caller's retry will merge into that alert).
            raise ConflictError(
                f"alert {draft.public_id!r} was created concurrently; retry: {exc.orig}"
            ) from exc
        return row, True
    replaced = row.frame_path
    _merge(row, draft, kind=kind, first=first, last=last, bearings=bearings)
    if data_dir is not None and replaced is not None and row.frame_path != replaced:
        _delete_after_commit(session, data_dir, replaced)
    session.flush()
    return row, False


def _set(row: Alert, name: str, value: Any) -> None:
    # Assign only real changes, so that an identical draft leaves the row (and updated_at) untouched.
    if getattr(row, name) != value:
        setattr(row, name, value)


def _merge(
    row: Alert, draft: AlertDraft, *, kind: AlertKind, first: datetime, last: datetime, bearings: list[dict]
) -> None:
    _set(row, "first_seen_at", min(row.first_seen_at, first))
    _set(row, "last_seen_at", max(row.last_seen_at, last))
    if kind == AlertKind.FIRE:
        _set(row, "kind", AlertKind.FIRE)
    if draft.location is not None:
        point = Point(*draft.location)
        if row.location is None or not row.location.equals_exact(point, 1e-9):
            row.location = point
    if draft.uncertainty is not None and (
        row.uncertainty is None or not row.uncertainty.equals(draft.uncertainty)
    ):
        row.uncertainty = draft.uncertainty
    _set(row, "bearings", _merge_bearings(row.bearings or [], bearings))
    _set(row, "cameras", list(dict.fromkeys([*(row.cameras or []), *(int(c) for c in draft.cameras)])))
    if draft.site_id is not None:
        _set(row, "site_id", draft.site_id)
    if draft.danger_level is not None:
        _set(row, "danger_level", _danger(draft.danger_level))
    if draft.calibration_version is not None:
        _set(row, "calibration_version", draft.calibration_version)
    better = draft.confidence is not None and (row.confidence is None or draft.confidence > row.confidence)
    if better:
        _set(row, "confidence", draft.confidence)
        _set(row, "model_name", draft.model_name)
        _set(row, "model_version", draft.model_version)
    if draft.frame_path is not None and (better or row.frame_path is None):
        _set(row, "frame_path", draft.frame_path)
        _set(row, "frame_box", None if draft.frame_box is None else [float(v) for v in draft.frame_box])
        _set(row, "frame_camera_id", draft.frame_camera_id)


# --- frames replaced by a merge ------------------------------------------------------------------------


def _delete_after_commit(session: Session, data_dir: Path, frame_path: str) -> None:
    """Unlink `data_dir / frame_path` when the session's transaction commits; forget it on rollback."""
    root = data_dir.resolve()
    path = (root / frame_path).resolve()
    if not path.is_relative_to(root):  # stored rows are checked on write, but never delete outside
        logger.warning("replaced frame %r leaves the data directory; not deleted", frame_path)
        return
    call_after_commit(session, functools.partial(_unlink_replaced, path))


def _unlink_replaced(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # the commit stands: a leftover file is only disk space
        logger.warning("replaced frame %s not deleted: %s", path, exc)


# --- reads and the life cycle -------------------------------------------------------------------------


def get_alert(session: Session, *, alert_id: int) -> Alert:
    row = session.get(Alert, alert_id)
    if row is None:
        raise NotFoundError(f"alert {alert_id} does not exist")
    return row


def get_alert_by_public_id(session: Session, *, public_id: str) -> Alert:
    row = session.scalar(select(Alert).where(Alert.public_id == public_id))
    if row is None:
        raise NotFoundError(f"alert with public_id {public_id!r} does not exist")
    return row


def list_alerts(
    session: Session,
    *,
    active_only: bool = True,
    since: datetime | None = None,
    site_id: int | None = None,
    limit: int | None = 500,
) -> list[Alert]:
    """Alerts, most recently seen first. `active_only`: new, acknowledged or confirmed. `since`: alerts
    changed (created, merged or moved in their life cycle) at or after that time."""
    query = select(Alert).order_by(Alert.last_seen_at.desc(), Alert.id.desc())
    if active_only:
        query = query.where(Alert.status.in_(ACTIVE_STATUSES))
    if since is not None:
        query = query.where(Alert.updated_at >= ensure_utc(since, what="since"))
    if site_id is not None:
        query = query.where(Alert.site_id == site_id)
    if limit is not None:
        if limit <= 0:
            raise InvalidInputError(f"limit {limit}: expected a positive number of alerts")
        query = query.limit(limit)
    return list(session.scalars(query))


def transition(
    session: Session, *, alert_id: int, to_status: AlertStatus | str, actor: str, note: str | None = None
) -> Alert:
    """Move an alert in its life cycle and record who did it; ConflictError for an illegal move.

    The move is a conditional UPDATE (`... WHERE id = :id AND status = :current`), atomic on SQLite as on
    PostgreSQL: when another operator moved the alert between our read and our write, no row matches
    and the caller gets a ConflictError instead of overwriting that decision.
    """
    try:
        target = AlertStatus(to_status)
    except ValueError as exc:
        known = ", ".join(s.value for s in AlertStatus)
        raise InvalidInputError(f"to_status {to_status!r}: expected one of {known}") from exc
    if not actor or not actor.strip():
        raise InvalidInputError("actor: a status change needs who made it")
    # A column read goes to the database, not to a possibly stale object of this session.
    stored = session.scalar(select(Alert.status).where(Alert.id == alert_id))
    if stored is None:
        raise NotFoundError(f"alert {alert_id} does not exist")
    current = AlertStatus(stored)
    if target not in LEGAL_TRANSITIONS[current]:
        allowed = ", ".join(sorted(s.value for s in LEGAL_TRANSITIONS[current])) or "none (it is closed)"
        raise ConflictError(
            f"alert {alert_id} is {current.value}: it cannot become {target.value} (allowed: {allowed})"
        )
    now = utcnow()
    moved = session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.status == current)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise ConflictError(
            f"alert {alert_id} changed status while it was being moved from {current.value} to "
            f"{target.value}: reload it and decide again"
        )
    row = session.get(Alert, alert_id, populate_existing=True)  # the object now shows the stored move
    if row is None:  # pragma: no cover - updated above, in this very transaction
        raise NotFoundError(f"alert {alert_id} does not exist")
    row.events.append(
        AlertEvent(at=now, actor=actor.strip()[:128], from_status=current, to_status=target, note=note)
    )
    session.flush()
    return row


def operator_label(alert: Alert) -> AlertStatus | None:
    """The operator's last verdict (confirmed or false_alarm), kept after the alert is closed."""
    for entry in reversed(alert.events):
        if entry.to_status in LABEL_STATUSES:
            return AlertStatus(entry.to_status)
    return None


# --- fire-danger level --------------------------------------------------------------------------------


def local_today(session: Session, *, site_id: int | None) -> date:
    """Today in the site's time zone (Europe/Paris when no site is given)."""
    tz = DEFAULT_TIMEZONE
    if site_id is not None:
        site = session.get(Site, site_id)
        if site is None:
            raise NotFoundError(f"site {site_id} does not exist")
        tz = site.timezone
    return utcnow().astimezone(zoneinfo.ZoneInfo(tz)).date()


def danger_level_row(session: Session, *, site_id: int | None, day: date) -> FireDangerLevel | None:
    """The level set for that site and day, else the one set for all sites (site_id NULL), else None."""
    query = select(FireDangerLevel).where(FireDangerLevel.day == day)
    if site_id is None:
        return session.scalar(query.where(FireDangerLevel.site_id.is_(None)))
    rows = list(
        session.scalars(
            query.where(or_(FireDangerLevel.site_id == site_id, FireDangerLevel.site_id.is_(None)))
        )
    )
    rows.sort(key=lambda r: r.site_id is None)  # the site's own level first
    return rows[0] if rows else None


def current_danger_level(session: Session, *, site_id: int | None, day: date) -> int:
    """The day's fire-danger level (1 low – 5 extreme) for a site; 3 when none was set."""
    row = danger_level_row(session, site_id=site_id, day=day)
    return DEFAULT_DANGER_LEVEL if row is None else int(row.level)


def set_danger_level(
    session: Session, *, site_id: int | None, day: date, level: int, set_by: str
) -> FireDangerLevel:
    """Set (or replace) the level of a day, for one site or, with site_id None, for all sites."""
    if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 5:
        raise InvalidInputError(f"level {level!r}: expected an integer from 1 (low) to 5 (extreme)")
    if not set_by or not set_by.strip():
        raise InvalidInputError("set_by: a danger level needs who set it")
    if site_id is not None and session.get(Site, site_id) is None:
        raise NotFoundError(f"site {site_id} does not exist")
    # Found by query: NULL site ids never match in SQL equality. Two writers inserting the same day at
    # once collide on UNIQUE (site_id, day), or for all sites on the partial index of migration 0006.
    query = select(FireDangerLevel).where(FireDangerLevel.day == day)
    query = query.where(
        FireDangerLevel.site_id.is_(None) if site_id is None else FireDangerLevel.site_id == site_id
    )
    row = session.scalar(query)
    if row is None:
        row = FireDangerLevel(site_id=site_id, day=day)
        session.add(row)
    row.level = level
    row.set_by = set_by.strip()[:128]
    row.set_at = utcnow()
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"danger level of {day.isoformat()} was set concurrently: {exc.orig}") from exc
    return row
