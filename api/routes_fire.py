"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the fire pipeline.

Alerts and their life cycle, CAP 1.2 and GeoJSON exports, the stored frames, lookout cameras with their
health, the daily fire-danger level, ingestion by remote workers, and a Server-Sent Events stream that
the console listens to. Every route needs role `operator` (admin passes), except ingestion (`worker`).
Every route takes the token as `Authorization: Bearer`, never in the URL, with one exception: EventSource
cannot send headers, so the stream is opened with a ticket (`POST /alerts/stream-ticket`, then
`GET /alerts/stream?ticket=`): signed with the secret key, bound to the caller's token, valid
`STREAM_TICKET_TTL` for one opening of the stream only, and worthless elsewhere. A ticket that ends up in
a proxy log is spent or expired; the stream itself ends when its token is revoked or expires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import APIKeyQuery
from pydantic import BaseModel, SecretStr
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from vigie.api.deps import (
    IdPath,
    IdQuery,
    SessionDep,
    SettingsDep,
    WorkerRole,
    require_roles,
)
from vigie.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from vigie.services import fire_alerts
from vigie.services.fire_cap import alert_to_cap
from vigie.services.fire_geojson import feature_collection
from vigie.services.fire_notify import WebhookNotifier, alert_payload
from vigie.services.fire_settings import FireServiceSettings
from vigie.services.fire_views import (
    ACTION_STATUS,
    AlertDraftIn,
    AlertOut,
    DangerLevelIn,
    DangerLevelOut,
    FireCameraOut,
    TransitionIn,
    alert_out,
    alerts_out,
    check_site_and_cameras,
    fire_cameras,
    frame_file,
)
from vigie.services.schemas import DateTimeIn
from vigie.services.tokens import Principal, Role, authenticate_token_id
from vigie.settings import Settings
from vigie.store.models import Alert, SpentStreamTicket

logger = logging.getLogger(__name__)

router = APIRouter(tags=["fire"])
pages = APIRouter(include_in_schema=False)

OperatorRole = Annotated[Principal, require_roles(Role.OPERATOR)]
FRAMES_FOLDER = "alerts"  # under data_dir, as the fire pipeline stores them

# Server-Sent Events timing (module attributes so that tests can shorten them).
STREAM_POLL_S = 0.5  # how often the stream looks for changed alerts in the database
STREAM_HEALTH_S = 5.0  # how often it sends the camera list
STREAM_HEARTBEAT_S = 15.0  # `heartbeat` event on an idle stream (keeps proxies and the page informed)
STREAM_AUTH_CHECK_S = 15.0  # how often an open stream checks that its token is still valid
STREAM_OVERLAP = timedelta(seconds=5)  # re-read window: commits landing late, small clock skew between hosts
STREAM_TICKET_TTL = timedelta(seconds=60)  # how long a ticket may wait before it opens the stream
STREAM_TICKET_PURPOSE = "fire-alert-stream"
NONCE_MAX_CHARS = 32  # the column of spent_stream_tickets; tickets carry 16 hex characters
# The ticket as an OpenAPI security scheme of the stream (auto_error=False: our 401 says what to do).
STREAM_TICKET = APIKeyQuery(
    name="ticket",
    scheme_name="StreamTicket",
    description="From POST /api/v1/alerts/stream-ticket: opens the alert stream once, within 60 s",
    auto_error=False,
)


def fire_settings(request: Request) -> FireServiceSettings:
    """The VIGIE_FIRE_* settings, read from the environment once per app (on first use) and kept on
    `app.state.fire_settings`, where a test or an embedding process may also put its own."""
    fire = getattr(request.app.state, "fire_settings", None)
    if fire is None:
        fire = FireServiceSettings()
        request.app.state.fire_settings = fire
    return fire


FireSettingsDep = Annotated[FireServiceSettings, Depends(fire_settings)]


def _notifier(request: Request) -> WebhookNotifier:
    """The app's webhook notifier for ingested alerts, built on first use from VIGIE_FIRE_* settings."""
    notifier = getattr(request.app.state, "fire_notifier", None)
    if notifier is None:
        fire = fire_settings(request)
        notifier = WebhookNotifier(
            fire.webhook_urls, timeout_s=fire.webhook_timeout_s, retries=fire.webhook_retries
        )
        request.app.state.fire_notifier = notifier
    return notifier


# --- alerts -------------------------------------------------------------------------------------------


@router.get("/alerts", summary="List alerts (active ones by default), most recently seen first")
def list_alerts(
    session: SessionDep,
    settings: SettingsDep,
    _: OperatorRole,
    active: Annotated[bool, Query(description="Only new, acknowledged and confirmed alerts")] = True,
    since: Annotated[DateTimeIn | None, Query(description="Only alerts changed at or after this")] = None,
    site_id: IdQuery = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[AlertOut]:
    rows = fire_alerts.list_alerts(session, active_only=active, since=since, site_id=site_id, limit=limit)
    return alerts_out(session, rows, data_dir=settings.data_dir)


@router.get(
    "/alerts/geojson",
    summary="Alerts as one GeoJSON FeatureCollection (points, uncertainty, bearing lines and cones)",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def alerts_geojson(
    session: SessionDep,
    settings: SettingsDep,
    _: OperatorRole,
    active: bool = True,
    site_id: IdQuery = None,
) -> Response:
    rows = fire_alerts.list_alerts(session, active_only=active, site_id=site_id)
    body = feature_collection(alerts_out(session, rows, data_dir=settings.data_dir))
    return Response(json.dumps(body), media_type="application/geo+json")


@router.post(
    "/alerts/ingest",
    summary="Create or merge an alert sent by a remote worker (role worker)",
    responses={201: {"description": "Created"}, 200: {"description": "Merged into the existing alert"}},
)
def ingest_alert(
    body: AlertDraftIn,
    request: Request,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    principal: WorkerRole,
) -> AlertOut:
    check_site_and_cameras(session, body)
    frame = body.frame_bytes()
    frame_path = None
    if frame is not None:
        # One file per draft: the merge keeps the most confident draft's frame and box together, so a
        # later, weaker draft must not overwrite the kept image.
        frame_path = f"{FRAMES_FOLDER}/{body.public_id}-{uuid.uuid4().hex[:12]}.jpg"
        fire_alerts.write_frame(settings.data_dir / frame_path, frame)
    try:
        # data_dir: a frame this draft replaces is deleted once the commit has succeeded.
        alert, created = fire_alerts.upsert_alert(
            session,
            alert=body.to_draft(frame_path=frame_path),
            actor=principal.name,
            data_dir=settings.data_dir,
        )
        session.commit()
    except Exception:
        if frame_path is not None:  # no row points to it
            (settings.data_dir / frame_path).unlink(missing_ok=True)
        raise
    if frame_path is not None and alert.frame_path != frame_path:
        (settings.data_dir / frame_path).unlink(missing_ok=True)  # not adopted by the merge
    out = alert_out(session, alert, data_dir=settings.data_dir)
    if created:
        _notifier(request).notify(alert_payload(out.model_dump(mode="json")))
        response.status_code = status.HTTP_201_CREATED
    return out


# --- live stream --------------------------------------------------------------------------------------


class StreamTicketOut(BaseModel):
    ticket: str
    expires_at: datetime


def _ticket_key(secret: SecretStr) -> bytes:
    # A key of its own, derived from the secret key: a ticket signature is never an API token's hash.
    return hmac.new(secret.get_secret_value().encode(), b"vigie stream ticket v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_ticket(
    secret: SecretStr, *, token_id: int, now: datetime, purpose: str = STREAM_TICKET_PURPOSE
) -> tuple[str, datetime]:
    """A ticket `<payload>.<signature>` (base64url, HMAC-SHA256) for `purpose`, bound to a stored token,
    valid until `now + STREAM_TICKET_TTL`; returns (ticket, expiry)."""
    expires_at = now + STREAM_TICKET_TTL
    claims = {"p": purpose, "t": token_id, "e": int(expires_at.timestamp()), "n": secrets.token_hex(8)}
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    signature = _b64(hmac.new(_ticket_key(secret), payload.encode(), hashlib.sha256).digest())
    return f"{payload}.{signature}", datetime.fromtimestamp(claims["e"], UTC)


def read_ticket(secret: SecretStr, ticket: str, *, now: datetime) -> tuple[int, str, datetime]:
    """(token id, nonce, expiry) of a valid, unexpired stream ticket; AuthenticationError otherwise."""
    payload, _, signature = ticket.partition(".")
    expected = _b64(hmac.new(_ticket_key(secret), payload.encode(), hashlib.sha256).digest())
    if not signature or not hmac.compare_digest(signature.encode(), expected.encode()):
        raise AuthenticationError("stream ticket: unknown or altered (bad signature)")
    try:
        claims = json.loads(_unb64(payload))
        purpose, token_id, nonce = claims["p"], int(claims["t"]), str(claims["n"])
        expires_at = datetime.fromtimestamp(int(claims["e"]), UTC)
        if not 0 < len(nonce) <= NONCE_MAX_CHARS:
            raise ValueError("nonce length")
    except (binascii.Error, ValueError, TypeError, KeyError) as exc:  # signed by us: only if the key leaked
        raise AuthenticationError("stream ticket: unreadable") from exc
    if purpose != STREAM_TICKET_PURPOSE:
        raise AuthenticationError(f"stream ticket: made for {purpose!r}, not for the alert stream")
    if expires_at <= now:
        raise AuthenticationError(
            f"stream ticket expired at {expires_at.isoformat()}: ask POST /api/v1/alerts/stream-ticket again"
        )
    return token_id, nonce, expires_at


def _redeem_ticket(factory: sessionmaker[Session], settings: Settings, ticket: str | None) -> int:
    """The token id of a valid ticket used for the first time by any API process; 401 otherwise."""
    if not ticket:
        raise AuthenticationError(
            "missing stream ticket: POST /api/v1/alerts/stream-ticket with your bearer token, "
            "then GET /api/v1/alerts/stream?ticket=<ticket>"
        )
    now = datetime.now(UTC)
    token_id, nonce, expires_at = read_ticket(settings.secret_key, ticket, now=now)
    # Spent tickets are kept in the database until they expire (a few per console per minute): the
    # primary key refuses a second use, whichever process or host the request reaches.
    with factory() as session:
        session.execute(delete(SpentStreamTicket).where(SpentStreamTicket.expires_at <= now))
        session.add(SpentStreamTicket(nonce=nonce, expires_at=expires_at))
        try:
            session.commit()
        except IntegrityError:
            raise AuthenticationError(
                "stream ticket already used: ask POST /api/v1/alerts/stream-ticket again"
            ) from None
    return token_id


def _stream_principal(factory: sessionmaker[Session], token_id: int) -> Principal:
    """The stream's operator, read again from the database: 401 once its token is revoked or expired."""
    with factory() as session:
        return authenticate_token_id(session, token_id=token_id).require(Role.OPERATOR)


@router.post(
    "/alerts/stream-ticket",
    summary="A ticket opening the alert stream once, within 60 s (EventSource cannot send a bearer header)",
)
def alerts_stream_ticket(settings: SettingsDep, principal: OperatorRole) -> StreamTicketOut:
    if principal.token_id is None:  # pragma: no cover - every authenticated principal has a stored token
        raise AuthenticationError("stream tickets are bound to a stored API token")
    ticket, expires_at = sign_ticket(settings.secret_key, token_id=principal.token_id, now=datetime.now(UTC))
    return StreamTicketOut(ticket=ticket, expires_at=expires_at)


@router.get(
    "/alerts/stream",
    summary="Server-Sent Events: `alert` on every change, `health` of cameras, `revoked` when the token dies",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def alerts_stream(
    request: Request,
    settings: SettingsDep,
    ticket: Annotated[str | None, Depends(STREAM_TICKET)],
) -> StreamingResponse:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    token_id = await anyio.to_thread.run_sync(_redeem_ticket, factory, settings, ticket)
    await anyio.to_thread.run_sync(_stream_principal, factory, token_id)  # revoked since the ticket: 401
    return StreamingResponse(
        _stream_events(request, factory, settings, token_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},  # nginx: do not buffer events
    )


def _sse(event: str, data: str, event_id: str | None = None) -> str:
    lines = [f"event: {event}"]
    if event_id:
        lines.append(f"id: {event_id}")
    lines.extend(f"data: {line}" for line in data.splitlines() or [""])
    return "\n".join(lines) + "\n\n"


def _stream_start(factory: sessionmaker[Session]) -> tuple[datetime, dict[int, datetime]]:
    """The database's latest change (the watermark) and the alerts already within the overlap window."""
    with factory() as session:
        latest = session.scalar(select(func.max(Alert.updated_at)))
        watermark = latest or datetime.now(UTC)
        recent = session.execute(
            select(Alert.id, Alert.updated_at).where(Alert.updated_at >= watermark - STREAM_OVERLAP)
        )
        return watermark, {row.id: row.updated_at for row in recent}


def _changed_since(factory: sessionmaker[Session], since: datetime, data_dir: Path) -> list[AlertOut]:
    with factory() as session:
        rows = fire_alerts.list_alerts(session, active_only=False, since=since, limit=1000)
        return alerts_out(session, rows, data_dir=data_dir)


def _cameras_json(factory: sessionmaker[Session]) -> str:
    with factory() as session:
        cameras = fire_cameras(session, now=datetime.now(UTC))
        return json.dumps([c.model_dump(mode="json") for c in cameras])


async def _token_refusal(factory: sessionmaker[Session], token_id: int) -> str | None:
    """Why the stream's token no longer opens it (revoked, expired, role gone), or None while it does."""
    try:
        await anyio.to_thread.run_sync(_stream_principal, factory, token_id)
    except (AuthenticationError, PermissionDeniedError) as exc:
        return str(exc)
    return None


async def _stream_events(
    request: Request, factory: sessionmaker[Session], settings: Settings, token_id: int
) -> AsyncIterator[str]:
    # Polling the database (not an in-process queue) sees the writes of worker processes on any host.
    # No `retry:` field: a ticket opens one stream, so the page reconnects by itself with a new ticket.
    watermark, sent = await anyio.to_thread.run_sync(_stream_start, factory)
    yield _sse("health", await anyio.to_thread.run_sync(_cameras_json, factory))
    last_health = last_output = last_auth = time.monotonic()
    while not await request.is_disconnected():
        if time.monotonic() - last_auth >= STREAM_AUTH_CHECK_S:
            refusal = await _token_refusal(factory, token_id)
            if refusal is not None:
                yield _sse("revoked", json.dumps({"reason": refusal}))
                return  # ends the response: the ticket that opened it is spent
            last_auth = time.monotonic()
        changed = await anyio.to_thread.run_sync(
            _changed_since, factory, watermark - STREAM_OVERLAP, settings.data_dir
        )
        for alert in sorted(changed, key=lambda a: a.updated_at):
            if sent.get(alert.id) == alert.updated_at:
                continue
            sent[alert.id] = alert.updated_at
            watermark = max(watermark, alert.updated_at)
            last_output = time.monotonic()
            yield _sse(
                "alert", alert.model_dump_json(), event_id=f"{alert.id}-{alert.updated_at.timestamp():.6f}"
            )
        sent = {k: v for k, v in sent.items() if v >= watermark - STREAM_OVERLAP}
        now = time.monotonic()
        if now - last_health >= STREAM_HEALTH_S:
            yield _sse("health", await anyio.to_thread.run_sync(_cameras_json, factory))
            last_health = last_output = now
        elif now - last_output >= STREAM_HEARTBEAT_S:
            # An event, not an SSE comment, so that the page's EventSource can see the stream is alive.
            yield _sse("heartbeat", json.dumps({"at": datetime.now(UTC).isoformat(timespec="seconds")}))
            last_output = now
        await asyncio.sleep(STREAM_POLL_S)


@router.get("/alerts/{alert_id}", summary="Read an alert with its status history")
def get_alert(alert_id: IdPath, session: SessionDep, settings: SettingsDep, _: OperatorRole) -> AlertOut:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    return alert_out(session, alert, data_dir=settings.data_dir, with_events=True)


@router.post(
    "/alerts/{alert_id}/{action}",
    summary="Acknowledge, confirm, mark as false alarm, or close an alert (409 if illegal from its status)",
)
def change_alert_status(
    alert_id: IdPath,
    action: Literal["acknowledge", "confirm", "false-alarm", "close"],
    session: SessionDep,
    settings: SettingsDep,
    principal: OperatorRole,
    body: TransitionIn | None = None,
) -> AlertOut:
    alert = fire_alerts.transition(
        session,
        alert_id=alert_id,
        to_status=ACTION_STATUS[action],
        actor=principal.name,
        note=None if body is None else body.note,
    )
    session.commit()
    return alert_out(session, alert, data_dir=settings.data_dir, with_events=True)


@router.get(
    "/alerts/{alert_id}/frame.jpg",
    summary="The alert's best frame (JPEG)",
    response_class=FileResponse,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def alert_frame(
    alert_id: IdPath, session: SessionDep, settings: SettingsDep, _: OperatorRole
) -> FileResponse:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    path = frame_file(alert, data_dir=settings.data_dir)
    if path is None:
        raise NotFoundError(f"alert {alert_id} has no stored frame")
    # no-cache: a merge may rewrite the frame under the same name; the browser revalidates (ETag).
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "private, no-cache"})


@router.get(
    "/alerts/{alert_id}/cap",
    summary="The alert as a CAP 1.2 message (OASIS Common Alerting Protocol)",
    response_class=Response,
    responses={200: {"content": {"application/cap+xml": {}}}},
)
def alert_cap(
    alert_id: IdPath, session: SessionDep, settings: SettingsDep, fire: FireSettingsDep, _: OperatorRole
) -> Response:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    out = alert_out(session, alert, data_dir=settings.data_dir, with_events=True)
    xml = alert_to_cap(out, sender=fire.cap_sender, base_url=fire.public_base_url)
    return Response(xml, media_type="application/cap+xml")


@router.get(
    "/alerts/{alert_id}/geojson",
    summary="The alert as GeoJSON: point, uncertainty polygon, bearing lines and cones",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def alert_geojson(alert_id: IdPath, session: SessionDep, settings: SettingsDep, _: OperatorRole) -> Response:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    body = feature_collection([alert_out(session, alert, data_dir=settings.data_dir)])
    return Response(json.dumps(body), media_type="application/geo+json")


# --- cameras and danger level -------------------------------------------------------------------------


@router.get("/fire/cameras", summary="Lookout cameras with position, heading, field of view and health")
def list_fire_cameras(session: SessionDep, _: OperatorRole) -> list[FireCameraOut]:
    return fire_cameras(session, now=datetime.now(UTC))


def _danger_out(session: Session, *, site_id: int | None, day: date) -> DangerLevelOut:
    row = fire_alerts.danger_level_row(session, site_id=site_id, day=day)
    if row is None:
        return DangerLevelOut(
            site_id=site_id,
            day=day,
            level=fire_alerts.DEFAULT_DANGER_LEVEL,
            is_default=True,
            set_by=None,
            set_at=None,
        )
    return DangerLevelOut(
        site_id=row.site_id,
        day=row.day,
        level=row.level,
        is_default=False,
        set_by=row.set_by,
        set_at=row.set_at,
    )


@router.get("/fire/danger-level", summary="The fire-danger level (1-5) of a day (default 3 when unset)")
def get_danger_level(
    session: SessionDep,
    _: OperatorRole,
    site_id: IdQuery = None,
    day: Annotated[date | None, Query(description="Default: today in the site's time zone")] = None,
) -> DangerLevelOut:
    day = day or fire_alerts.local_today(session, site_id=site_id)
    return _danger_out(session, site_id=site_id, day=day)


@router.put("/fire/danger-level", summary="Set the fire-danger level of a day, for a site or all sites")
def put_danger_level(body: DangerLevelIn, session: SessionDep, principal: OperatorRole) -> DangerLevelOut:
    day = body.day or fire_alerts.local_today(session, site_id=body.site_id)
    fire_alerts.set_danger_level(
        session, site_id=body.site_id, day=day, level=body.level, set_by=principal.name
    )
    session.commit()
    return _danger_out(session, site_id=body.site_id, day=day)
