"""/health, /metrics, the OpenAPI document, and start-up refusals."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from vigie import __version__
from vigie.api.app import create_app
from vigie.errors import ConfigError
from vigie.settings import DEFAULT_SECRET, Settings
from vigie.store.db import current_revision, make_sessionmaker
from vigie.store.models import CameraHealth

Auth = Callable[..., dict[str, str]]


def scrape(client: TestClient) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """/metrics parsed: {sample name: {sorted label pairs: value}}."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(response.text):
        samples.setdefault(family.name, {})
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def make_camera(client: TestClient, admin: dict[str, str]) -> tuple[dict, dict]:
    site = client.post(
        "/api/v1/sites", json={"slug": "la-ciotat", "name": "La Ciotat", "kind": "traffic"}, headers=admin
    ).json()
    camera = client.post(
        f"/api/v1/sites/{site['id']}/cameras",
        json={"slug": "rd559", "name": "RD559", "role": "traffic"},
        headers=admin,
    ).json()
    return site, camera


def test_health_reports_version_and_revision(client: TestClient, db_url: str) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["version"] == __version__
    database = body["database"]
    assert database["reachable"] is True
    assert database["revision"] == current_revision(db_url) == database["head"]
    assert database["backend"] == sqlalchemy.make_url(db_url).get_backend_name()


def offline_settings() -> Settings:
    return Settings(
        _env_file=None, env="test", secret_key="ops-tests-" + "s" * 32, bootstrap_admin_token=None
    )


def test_health_is_503_when_the_database_is_unreachable(tmp_path: Path) -> None:
    # SQLite cannot create a file in a folder that does not exist: every connection attempt fails.
    unreachable = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'no-such-dir' / 'vigie.db'}")
    with TestClient(create_app(offline_settings(), engine=unreachable)) as client:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["database"]["reachable"] is False
        assert response.json()["database"]["error"] == "sqlite database unreachable (see the log)"
        assert "no-such-dir" not in response.text  # the public endpoint does not reveal paths or hosts
        assert scrape(client)["vigie_camera_health_scrape_error"] == {(): 1.0}
        sites = client.get("/api/v1/sites", headers={"Authorization": "Bearer whatever"})
        assert sites.status_code == 503 and sites.json()["error"] == "database_unavailable"


def test_health_is_degraded_on_an_unmigrated_database(tmp_path: Path) -> None:
    empty = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with TestClient(create_app(offline_settings(), engine=empty)) as client:
        body = client.get("/health").json()
    assert body["status"] == "degraded" and body["database"]["revision"] is None


def test_metrics_follow_camera_health_reports(client: TestClient, auth: Auth) -> None:
    _, camera = make_camera(client, auth("admin"))
    labels = (("camera", "rd559"), ("camera_id", str(camera["id"])), ("site", "la-ciotat"))
    assert labels not in scrape(client)["vigie_camera_up"]  # no report yet: no sample

    worker = auth("worker")
    last_frame = datetime.now(UTC) - timedelta(hours=1)
    report = {"state": "up", "last_frame_at": last_frame.isoformat(), "frames_read": 1200, "worker_id": "w1"}
    response = client.put(f"/api/v1/cameras/{camera['id']}/health", json=report, headers=worker)
    assert response.status_code == 200 and response.json()["up"] is True
    metrics = scrape(client)
    assert metrics["vigie_camera_up"][labels] == 1.0
    assert 3600 <= metrics["vigie_camera_last_frame_age_seconds"][labels] < 3600 + 600
    assert metrics["vigie_camera_health_scrape_error"] == {(): 0.0}
    assert "vigie_queue_depth" in metrics  # the shared process registry is exported too

    down = client.put(f"/api/v1/cameras/{camera['id']}/health", json={"state": "down"}, headers=worker)
    assert down.json()["frames_read"] == 1200  # omitted fields keep their value
    assert scrape(client)["vigie_camera_up"][labels] == 0.0

    listed = client.get("/api/v1/health/cameras", headers=auth("operator")).json()
    assert [(item["camera_id"], item["state"], item["up"]) for item in listed] == [
        (camera["id"], "down", False)
    ]


def test_camera_whose_worker_stopped_reporting_is_down(
    client: TestClient, auth: Auth, engine: sqlalchemy.Engine
) -> None:
    _, camera = make_camera(client, auth("admin"))
    client.put(f"/api/v1/cameras/{camera['id']}/health", json={"state": "up"}, headers=auth("worker"))
    with make_sessionmaker(engine)() as session:
        row = session.get(CameraHealth, camera["id"])
        row.updated_at = datetime.now(UTC) - timedelta(hours=2)
        session.commit()
    up = scrape(client)["vigie_camera_up"]
    assert list(up.values()) == [0.0]
    assert client.get("/api/v1/health/cameras", headers=auth("planner")).json()[0]["up"] is False


def test_openapi_lists_the_routes(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert document["info"]["title"] == "Vigie" and document["info"]["version"] == __version__
    expected = {
        "/api/v1/sites": {"get", "post"},
        "/api/v1/sites/{site_id}": {"get", "patch", "delete"},
        "/api/v1/sites/{site_id}/cameras": {"get", "post"},
        "/api/v1/cameras/{camera_id}": {"get", "patch", "delete"},
        "/api/v1/cameras/{camera_id}/health": {"put"},
        "/api/v1/health/cameras": {"get"},
        "/api/v1/tokens": {"get", "post"},
        "/api/v1/tokens/{token_id}": {"delete"},
        "/health": {"get"},
        "/metrics": {"get"},
    }
    paths = {path: set(methods) for path, methods in document["paths"].items()}
    for path, methods in expected.items():
        assert paths.get(path, set()) >= methods, path
    # Every API operation requires a token, except the few that are public on purpose.
    # Citizens upload beach photos without an account, and follow their photo's processing.
    public = {
        ("/api/v1/shoreline/stations/{slug}/photos", "post"),
        ("/api/v1/shoreline/photos/{photo_id}", "get"),
    }
    for path, operations in document["paths"].items():
        if not path.startswith("/api/"):
            continue
        for method, operation in operations.items():
            if (path, method) not in public:
                assert operation.get("security"), f"{method.upper()} {path} is not authenticated"
    assert "HTTPBearer" in document["components"]["securitySchemes"]
    assert {tag["name"] for tag in document["tags"]} >= {"sites", "cameras", "tokens", "operations"}
    assert client.get("/docs").status_code == 200


def test_production_with_the_default_secret_refuses_to_start(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env file
    for name in ("VIGIE_SECRET_KEY", "VIGIE_DATABASE_URL", "VIGIE_BOOTSTRAP_ADMIN_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("VIGIE_ENV", "production")
    with pytest.raises(ConfigError, match="VIGIE_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("VIGIE_SECRET_KEY", DEFAULT_SECRET)
    with pytest.raises(ConfigError, match="VIGIE_SECRET_KEY"):
        create_app()
    monkeypatch.setenv("VIGIE_SECRET_KEY", "a-real-production-secret-" + "z" * 20)
    assert create_app().title == "Vigie"
