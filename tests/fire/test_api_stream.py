"""The Server-Sent Events stream: an alert written by another session (a worker) reaches an open stream."""

from __future__ import annotations

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
from shapely.geometry import Point

from vigie.api import routes_fire
from vigie.api.app import create_app
from vigie.services.fire_alerts import AlertDraft, transition, upsert_alert
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import Camera, CameraRole, Site, SiteKind

SECRET = "fire-stream-tests-secret-" + "k" * 32
DEADLINE_S = 2.0


@pytest.fixture
def client(
    db_url: str, engine: sqlalchemy.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    # Frequent heartbeats let the reader thread notice the end of the test promptly.
    monkeypatch.setattr(routes_fire, "STREAM_HEARTBEAT_S", 0.2)
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


def operator_token(engine: sqlalchemy.Engine) -> str:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="console", roles=["operator"], secret=SECRET)
        session.commit()
    return clear


class StreamReader:
    """Reads the SSE stream in a thread and parses it into (event, data) pairs."""

    def __init__(self, client: TestClient, url: str) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        self.status: int | None = None
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


def test_stream_requires_operator_token(client: TestClient, engine: sqlalchemy.Engine) -> None:
    assert client.get("/api/v1/alerts/stream").status_code == 401
    assert client.get("/api/v1/alerts/stream?token=vigie_not_a_token").status_code == 401


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

    reader = StreamReader(client, f"/api/v1/alerts/stream?token={operator_token(engine)}")
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
