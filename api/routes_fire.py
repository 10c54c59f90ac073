"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the fire pipeline.

Alerts and their life cycle, CAP 1.2 and GeoJSON exports, the stored frames, lookout cameras with their
health, the daily fire-danger level, ingestion by remote workers, and a Server-Sent Events stream that
the console listens to. Every route needs role `operator` (admin passes), except ingestion (`worker`).
The stream and the frames also accept the token as `?token=` since EventSource and <img> cannot send
headers (such URLs end up in proxy logs: serve the API over HTTPS and rotate operator tokens).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from vigie.api.deps import (
    BEARER,
    SessionDep,
    SettingsDep,
    WorkerRole,
    bearer_token,
    principal_from_token,
    require_roles,
)
from vigie.errors import NotFoundError
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
from vigie.services.tokens import Principal, Role
from vigie.settings import Settings
from vigie.store.models import Alert

logger = logging.getLogger(__name__)

router = APIRouter(tags=["fire"])
pages = APIRouter(include_in_schema=False)

OperatorRole = Annotated[Principal, require_roles(Role.OPERATOR)]
FRAMES_FOLDER = "alerts"  # under data_dir, as the fire pipeline stores them

# Server-Sent Events timing (module attributes so that tests can shorten them).
STREAM_POLL_S = 0.5  # how often the stream looks for changed alerts in the database
STREAM_HEALTH_S = 5.0  # how often it sends the camera list
STREAM_HEARTBEAT_S = 15.0  # `heartbeat` event on an idle stream (keeps proxies and the page informed)
STREAM_OVERLAP = timedelta(seconds=5)  # re-read window: commits landing late, small clock skew between hosts


def operator_header_or_query(
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
    token: Annotated[str | None, Query(description="API token, for clients that cannot send headers")] = None,
) -> Principal:
    principal = principal_from_token(
        session,
        settings,
        bearer_token(credentials) or token,
        missing="missing token: send `Authorization: Bearer <token>` or `?token=<token>`",
    )
    return principal.require(Role.OPERATOR)


OperatorAnyWay = Annotated[Principal, Depends(operator_header_or_query)]


def _notifier(request: Request) -> WebhookNotifier:
    """The app's webhook notifier for ingested alerts, built on first use from VIGIE_FIRE_* settings."""
    notifier = getattr(request.app.state, "fire_notifier", None)
    if notifier is None:
        fire = FireServiceSettings()
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
    since: Annotated[datetime | None, Query(description="Only alerts changed at or after this time")] = None,
    site_id: int | None = None,
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
    site_id: int | None = None,
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
    alert, created = fire_alerts.upsert_alert(
        session, alert=body.to_draft(frame_path=frame_path), actor=principal.name
    )
    session.commit()
    if frame_path is not None and alert.frame_path != frame_path:
        (settings.data_dir / frame_path).unlink(missing_ok=True)  # not adopted by the merge
    out = alert_out(session, alert, data_dir=settings.data_dir)
    if created:
        _notifier(request).notify(alert_payload(out.model_dump(mode="json")))
        response.status_code = status.HTTP_201_CREATED
    return out


@router.get("/alerts/stream", summary="Server-Sent Events: `alert` on every change, `health` of cameras")
async def alerts_stream(
    request: Request, settings: SettingsDep, principal: OperatorAnyWay
) -> StreamingResponse:
    factory: sessionmaker[Session] = request.app.state.sessionmaker
    return StreamingResponse(
        _stream_events(request, factory, settings),
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


async def _stream_events(
    request: Request, factory: sessionmaker[Session], settings: Settings
) -> AsyncIterator[str]:
    # Polling the database (not an in-process queue) sees the writes of worker processes on any host.
    watermark, sent = await anyio.to_thread.run_sync(_stream_start, factory)
    yield "retry: 2000\n\n"  # EventSource reconnects after 2 s if the connection drops
    yield _sse("health", await anyio.to_thread.run_sync(_cameras_json, factory))
    last_health = last_output = time.monotonic()
    while not await request.is_disconnected():
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
def get_alert(alert_id: int, session: SessionDep, settings: SettingsDep, _: OperatorRole) -> AlertOut:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    return alert_out(session, alert, data_dir=settings.data_dir, with_events=True)


@router.post(
    "/alerts/{alert_id}/{action}",
    summary="Acknowledge, confirm, mark as false alarm, or close an alert (409 if illegal from its status)",
)
def change_alert_status(
    alert_id: int,
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
def alert_frame(alert_id: int, session: SessionDep, settings: SettingsDep, _: OperatorAnyWay) -> FileResponse:
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
def alert_cap(alert_id: int, session: SessionDep, settings: SettingsDep, _: OperatorRole) -> Response:
    alert = fire_alerts.get_alert(session, alert_id=alert_id)
    fire = FireServiceSettings()
    out = alert_out(session, alert, data_dir=settings.data_dir, with_events=True)
    xml = alert_to_cap(out, sender=fire.cap_sender, base_url=fire.public_base_url)
    return Response(xml, media_type="application/cap+xml")


@router.get(
    "/alerts/{alert_id}/geojson",
    summary="The alert as GeoJSON: point, uncertainty polygon, bearing lines and cones",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def alert_geojson(alert_id: int, session: SessionDep, settings: SettingsDep, _: OperatorRole) -> Response:
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
    site_id: int | None = None,
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
