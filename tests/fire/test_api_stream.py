"""The Server-Sent Events stream: opened with a one-time ticket, an alert written by another session (a
worker) reaches it, and it ends when its token is revoked or expires."""

from __future__ import annotations

import base64
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from pydantic import SecretStr
from shapely.geometry import Point
from sqlalchemy import select

from vigie.api import routes_fire
from vigie.api.app import create_app
from vigie.services.fire_alerts import AlertDraft, transition, upsert_alert
from vigie.services.tokens import create_token, revoke_token
from vigie.settings import Settings
from vigie.store.db import make_engine, make_sessionmaker
from vigie.store.models import ApiToken, Camera, CameraRole, Site, SiteKind, SpentStreamTicket

SECRET = "fire-stream-tests-secret-" + "k" * 32
DEADLINE_S = 2.0


@pytest.fixture
def client(
    db_url: str, engine: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    # Frequent heartbeats let the reader thread notice the end of the test promptly.
    monkeypatch.setattr(routes_fire, "STREAM_HEARTBEAT_S", 0.2)
    monkeypatch.setattr(routes_fire, "STREAM_AUTH_CHECK_S", 0.2)
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET,
        database_url=db_url,
        data_dir=tmp_path,
        bootstrap_admin_token=None,
    )
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


def operator_token(
    engine: sqlalchemy.Engine, *, roles: tuple[str, ...] = ("operator",), expires_at: datetime | None = None
) -> tuple[int, str]:
    """(token id, clear token)."""
    with make_sessionmaker(engine)() as session:
        row, clear = create_token(session, name="console", roles=roles, secret=SECRET, expires_at=expires_at)
        session.commit()
        return row.id, clear


def ticket_for(client: TestClient, token: str) -> str:
    response = client.post("/api/v1/alerts/stream-ticket", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    body = response.json()
    expires_at = datetime.fromisoformat(body["expires_at"])
    assert timedelta(seconds=50) < expires_at - datetime.now(UTC) <= routes_fire.STREAM_TICKET_TTL
    return body["ticket"]


def stream_url(ticket: str) -> str:
    return f"/api/v1/alerts/stream?ticket={ticket}"


def refused(client: TestClient, url: str, match: str) -> None:
    response = client.get(url)
    assert response.status_code == 401, response.text
    assert match in response.json()["detail"], response.json()["detail"]


class StreamReader:
    """Reads the SSE stream in a thread and parses it into (event, data) pairs."""

    def __init__(self, client: TestClient, url: str) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.status: int | None = None
        self.ended = threading.Event()  # the server closed the response
        self._stop = threading.Event()
        self._opened = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(client, url), daemon=True)
        self._thread.start()
        assert self._opened.wait(10), "stream did not open"

    def _run(self, client: TestClient, url: str) -> None:
        with client.stream("GET", url) as response:
            self.status = response.status_code
            self._opened.set()
            name, data = "message", []
            for line in response.iter_lines():
                if self._stop.is_set():
                    return
                if line.startswith("event:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("data:"):
                    data.append(line.split(":", 1)[1].removeprefix(" "))
                elif line == "" and data:
                    self.events.put((name, "\n".join(data)))
                    name, data = "message", []
        self.ended.set()

    def wait_for(self, predicate, timeout_s: float) -> tuple[str, dict | list, float]:
        start = time.monotonic()
        while (left := timeout_s - (time.monotonic() - start)) > 0:
            try:
                name, data = self.events.get(timeout=left)
            except queue.Empty:
                break
            parsed = json.loads(data)
            if predicate(name, parsed):
                return name, parsed, time.monotonic() - start
        raise AssertionError(f"no matching event within {timeout_s} s")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)


def test_stream_needs_a_ticket_and_no_longer_takes_a_token(
    client: TestClient, engine: sqlalchemy.Engine
) -> None:
    _, token = operator_token(engine)
    refused(client, "/api/v1/alerts/stream", "missing stream ticket")
    refused(client, f"/api/v1/alerts/stream?token={token}", "missing stream ticket")  # valid, but in the URL
    response = client.get("/api/v1/alerts/stream", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401  # EventSource cannot send it: the stream takes tickets only


def test_tickets_are_for_operators(client: TestClient, engine: sqlalchemy.Engine) -> None:
    assert client.post("/api/v1/alerts/stream-ticket").status_code == 401
    for roles in (("planner",), ("worker",)):
        _, token = operator_token(engine, roles=roles)
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/v1/alerts/stream-ticket", headers=headers).status_code == 403
    _, admin = operator_token(engine, roles=("admin",))
    assert ticket_for(client, admin)


def test_a_ticket_spent_on_one_api_process_is_refused_by_another(
    client: TestClient, engine: sqlalchemy.Engine, db_url: str, tmp_path: Path
) -> None:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url, data_dir=tmp_path)
    other_engine = make_engine(db_url)  # its own engine and pool, as a second uvicorn worker would have
    try:
        with TestClient(create_app(settings, engine=other_engine)) as other:
            _, token = operator_token(engine)
            ticket = ticket_for(client, token)
            reader = StreamReader(client, stream_url(ticket))
            try:
                assert reader.status == 200
            finally:
                reader.close()
            refused(other, stream_url(ticket), "already used")
            with make_sessionmaker(engine)() as session:  # the nonce only: the ticket cannot be rebuilt
                (row,) = session.scalars(select(SpentStreamTicket))
                assert len(row.nonce) == 16 and row.nonce not in ticket
    finally:
        other_engine.dispose()


def test_a_ticket_opens_the_stream_once(client: TestClient, engine: sqlalchemy.Engine) -> None:
    _, token = operator_token(engine)
    ticket = ticket_for(client, token)
    reader = StreamReader(client, stream_url(ticket))
    try:
        assert reader.status == 200
        reader.wait_for(lambda n, d: n == "health", 5)
    finally:
        reader.close()
    refused(client, stream_url(ticket), "already used")
    # A new ticket of the same token opens it again.
    second = StreamReader(client, stream_url(ticket_for(client, token)))
    try:
        assert second.status == 200
    finally:
        second.close()


def test_expired_forged_and_foreign_tickets_are_refused(
    client: TestClient, engine: sqlalchemy.Engine
) -> None:
    token_id, token = operator_token(engine)
    secret = SecretStr(SECRET)
    now = datetime.now(UTC)
    expired, _ = routes_fire.sign_ticket(secret, token_id=token_id, now=now - timedelta(seconds=61))
    refused(client, stream_url(expired), "expired")
    other_purpose, _ = routes_fire.sign_ticket(secret, token_id=token_id, now=now, purpose="lapi-export")
    refused(client, stream_url(other_purpose), "not for the alert stream")
    other_key, _ = routes_fire.sign_ticket(SecretStr(SECRET + "x"), token_id=token_id, now=now)
    refused(client, stream_url(other_key), "bad signature")
    # Another token id under a genuine signature: the payload no longer matches it.
    genuine = ticket_for(client, token)
    payload, signature = genuine.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["t"] = token_id + 1
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    refused(client, stream_url(f"{forged}.{signature}"), "bad signature")
    refused(client, stream_url("not-a-ticket"), "bad signature")
    refused(client, stream_url("é.é"), "bad signature")
    # A ticket is no API token: useless on any other route.
    response = client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {genuine}"})
    assert response.status_code == 401
    assert client.get(f"/api/v1/alerts?ticket={genuine}").status_code == 401


def test_a_ticket_of_a_token_revoked_since_is_refused(client: TestClient, engine: sqlalchemy.Engine) -> None:
    token_id, token = operator_token(engine)
    ticket = ticket_for(client, token)
    with make_sessionmaker(engine)() as session:
        revoke_token(session, token_id=token_id)
        session.commit()
    refused(client, stream_url(ticket), "revoked")


@pytest.mark.parametrize("ending", ["revoked", "expired"])
def test_an_open_stream_ends_when_its_token_dies(
    client: TestClient, engine: sqlalchemy.Engine, ending: str
) -> None:
    token_id, token = operator_token(engine, expires_at=datetime.now(UTC) + timedelta(hours=1))
    reader = StreamReader(client, stream_url(ticket_for(client, token)))
    try:
        assert reader.status == 200
        reader.wait_for(lambda n, d: n == "health", 5)
        with make_sessionmaker(engine)() as session:
            if ending == "revoked":
                revoke_token(session, token_id=token_id)
            else:  # its expiry passes while the stream is open (set in the past: no race with a slow machine)
                session.get(ApiToken, token_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
            session.commit()
        _, data, _ = reader.wait_for(lambda n, d: n == "revoked", 10)
        assert ending in data["reason"]
        assert reader.ended.wait(5), "the server did not close the stream"
    finally:
        reader.close()


def test_alert_written_elsewhere_reaches_open_stream(client: TestClient, engine: sqlalchemy.Engine) -> None:
    factory = make_sessionmaker(engine)
    with factory() as session:
        site = Site(slug="massif", name="Massif", kind=SiteKind.FIRE)
        camera = Camera(
            slug="north",
            name="North",
            role=CameraRole.LOOKOUT,
            location=Point(5.4, 43.5),
            heading_deg=180.0,
            hfov_deg=60.0,
        )
        site.cameras.append(camera)
        session.add(site)
        session.commit()
        site_id, camera_id = site.id, camera.id

    reader = StreamReader(client, stream_url(ticket_for(client, operator_token(engine)[1])))
    try:
        assert reader.status == 200
        # the camera list comes first
        _, cameras, _ = reader.wait_for(lambda n, d: n == "health", 5)
        assert [c["slug"] for c in cameras] == ["north"]

        now = datetime.now(UTC)
        with factory() as session:  # what a worker process does
            alert, _ = upsert_alert(
                session,
                alert=AlertDraft(
                    public_id="live-1",
                    site_id=site_id,
                    kind="smoke",
                    first_seen_at=now - timedelta(seconds=30),
                    last_seen_at=now,
                    model_name="fire-smoke-yolov8",
                    model_version="1.0.3",
                    bearings=[{"camera_id": camera_id, "camera": "north", "azimuth_deg": 181.0}],
                    cameras=[camera_id],
                ),
            )
            session.commit()
            alert_id = alert.id
        _, data, _ = reader.wait_for(lambda n, d: n == "alert" and d["public_id"] == "live-1", DEADLINE_S)
        assert data["status"] == "new" and data["bearings"][0]["longitude"] == 5.4

        with factory() as session:
            transition(session, alert_id=alert_id, to_status="acknowledged", actor="other-console")
            session.commit()
        _, data, _ = reader.wait_for(
            lambda n, d: n == "alert" and d["id"] == alert_id and d["status"] == "acknowledged", DEADLINE_S
        )
        assert data["updated_at"] >= data["first_seen_at"]
    finally:
        reader.close()
