"""Webhook notification of new alerts, against a local HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.errors import ConfigError
from vigie.services.fire_notify import WebhookNotifier, alert_payload, notify_after_commit
from vigie.services.fire_settings import FireServiceSettings
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker


class Receiver:
    """A local webhook endpoint answering a scripted list of status codes (then 200)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.received: queue.Queue[dict] = queue.Queue()
        self.attempts = 0
        self.statuses = list(statuses or [])
        self.gate = threading.Event()
        self.gate.set()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.gate.wait(10)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.attempts += 1
                code = receiver.statuses.pop(0) if receiver.statuses else 200
                if code == 200:
                    receiver.received.put(json.loads(body))
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def test_notify_does_not_wait_for_the_receiver(receiver: Receiver) -> None:
    notifier = WebhookNotifier([receiver.url], backoff_s=0.01)
    receiver.gate.clear()  # the receiver hangs until released
    assert notifier.notify({"event": "alert.created", "alert": {"id": 1}}) is True
    assert receiver.received.empty()  # notify returned while the POST is still pending
    receiver.gate.set()
    assert receiver.received.get(timeout=10) == {"event": "alert.created", "alert": {"id": 1}}
    notifier.close()
    assert notifier.sent == 1


def test_server_errors_are_retried_with_backoff() -> None:
    receiver = Receiver(statuses=[503, 500])
    delays: list[float] = []
    try:
        notifier = WebhookNotifier([receiver.url], retries=3, backoff_s=0.5, sleep=delays.append)
        notifier.notify({"n": 1})
        assert receiver.received.get(timeout=10) == {"n": 1}
        notifier.close()
        assert receiver.attempts == 3
        assert delays == [0.5, 1.0]  # doubling
    finally:
        receiver.close()


def test_client_errors_are_not_retried_and_unreachable_gives_up() -> None:
    receiver = Receiver(statuses=[400])
    try:
        notifier = WebhookNotifier(
            [receiver.url, "http://127.0.0.1:9/nothing-listens"],
            retries=2,
            backoff_s=0.01,
            sleep=lambda s: None,
            timeout_s=2,
        )
        notifier.notify({"n": 1})
        notifier.close()
        assert receiver.attempts == 1
        assert (notifier.sent, notifier.failed) == (0, 2)
    finally:
        receiver.close()


def test_full_queue_drops_instead_of_blocking(receiver: Receiver) -> None:
    receiver.gate.clear()
    notifier = WebhookNotifier([receiver.url], max_queue=1)
    results = [notifier.notify({"n": i}) for i in range(5)]
    assert results.count(False) >= 3 and notifier.dropped == results.count(False)
    receiver.gate.set()
    notifier.close()


def test_bad_urls_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="ftp://x"):
        WebhookNotifier(["ftp://x"])
    monkeypatch.setenv("VIGIE_FIRE_WEBHOOK_URLS", "https://a.example/h, http://b.example/h")
    assert FireServiceSettings(_env_file=None).webhook_urls == ["https://a.example/h", "http://b.example/h"]
    monkeypatch.setenv("VIGIE_FIRE_WEBHOOK_URLS", "file:///etc/passwd")
    with pytest.raises(ValueError, match="expected http"):
        FireServiceSettings(_env_file=None)


def test_notify_after_commit_only(receiver: Receiver, engine: sqlalchemy.Engine) -> None:
    notifier = WebhookNotifier([receiver.url])
    factory = make_sessionmaker(engine)
    with factory() as session:
        notify_after_commit(session, notifier, {"n": "rolled back"})
        session.rollback()
        notify_after_commit(session, notifier, {"n": "committed"})
        assert receiver.received.empty()  # nothing before the commit
        session.commit()
    assert receiver.received.get(timeout=10) == {"n": "committed"}
    notifier.close()
    assert receiver.received.empty()


def test_alert_ingested_through_the_api_is_posted(
    receiver: Receiver,
    db_url: str,
    engine: sqlalchemy.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("VIGIE_FIRE_WEBHOOK_URLS", receiver.url)
    secret = "webhook-tests-secret-" + "k" * 32
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=secret,
        database_url=db_url,
        data_dir=tmp_path,
        bootstrap_admin_token=None,
    )
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="w", roles=["worker"], secret=secret)
        session.commit()
    body = {
        "public_id": "hook-1",
        "kind": "fire",
        "first_seen_at": "2026-07-14T13:00:00Z",
        "last_seen_at": "2026-07-14T13:00:10Z",
        "model_name": "m",
        "model_version": "1",
        "confidence": 0.9,
    }
    with TestClient(create_app(settings, engine=engine)) as client:
        headers = {"Authorization": f"Bearer {clear}"}
        assert client.post("/api/v1/alerts/ingest", headers=headers, json=body).status_code == 201
        assert client.post("/api/v1/alerts/ingest", headers=headers, json=body).status_code == 200  # merge
        posted = receiver.received.get(timeout=10)
        assert posted["event"] == "alert.created" and posted["alert"]["public_id"] == "hook-1"
        client.app.state.fire_notifier.close()
    assert receiver.received.empty()  # the merge announced nothing


def test_alert_payload_shape() -> None:
    assert alert_payload({"id": 3}) == {"event": "alert.created", "alert": {"id": 3}}
