"""Fire API inputs that fuzzing turned into 500s: ids past the database's integers and times that leave
the calendar once converted to UTC are now a 422 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker

SECRET = "fire-fuzz-tests-secret-" + "k" * 32
TOO_BIG_ID = 2**63
DANGER = {"site_id": TOO_BIG_ID, "level": 2}


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine, tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(
        _env_file=None, env="test", secret_key=SECRET, database_url=db_url, data_dir=tmp_path / "data"
    )
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def admin(engine: sqlalchemy.Engine) -> dict[str, str]:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="admin", roles=["admin"], secret=SECRET)
        session.commit()
    return {"Authorization": f"Bearer {clear}"}


def _draft(**overrides: object) -> dict[str, object]:
    return {
        "public_id": "remote-1",
        "kind": "smoke",
        "first_seen_at": "2026-07-14T13:00:00Z",
        "last_seen_at": "2026-07-14T13:00:40Z",
        "model_name": "fire-smoke-yolov8",
        "model_version": "1.0.3",
        **overrides,
    }


def _locs(response) -> list[list]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return [item["loc"] for item in body["detail"]]


@pytest.mark.parametrize(
    ("request_args", "loc"),
    [
        (("GET", f"/api/v1/alerts/{TOO_BIG_ID}", {}), ["path", "alert_id"]),
        (("GET", "/api/v1/alerts", {"params": {"site_id": TOO_BIG_ID}}), ["query", "site_id"]),
        (("POST", "/api/v1/alerts/ingest", {"json": _draft(site_id=TOO_BIG_ID)}), ["body", "site_id"]),
        (("POST", "/api/v1/alerts/ingest", {"json": _draft(cameras=[TOO_BIG_ID])}), ["body", "cameras", 0]),
        (("PUT", "/api/v1/fire/danger-level", {"json": DANGER}), ["body", "site_id"]),
    ],
)
def test_ids_past_the_database_integers_are_a_422(
    client: TestClient, admin: dict[str, str], request_args: tuple, loc: list
) -> None:
    # Before: SQLite's driver overflowed on the lookup: a 500.
    method, url, kwargs = request_args
    response = client.request(method, url, headers=admin, **kwargs)
    assert response.status_code == 422
    assert _locs(response) == [loc]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_times_that_leave_the_calendar_in_utc_are_a_422(
    client: TestClient, admin: dict[str, str], moment: str
) -> None:
    # Before: OverflowError when the service converted them to UTC: a 500.
    response = client.get("/api/v1/alerts", params={"since": moment}, headers=admin)
    assert response.status_code == 422
    assert _locs(response) == [["query", "since"]]
    response = client.post(
        "/api/v1/alerts/ingest", json=_draft(first_seen_at=moment, last_seen_at=moment), headers=admin
    )
    assert response.status_code == 422
    assert _locs(response) == [["body", "first_seen_at"], ["body", "last_seen_at"]]
    assert "outside years 1 to 9999 once converted to UTC" in response.text


def test_cap_writes_four_digit_years(client: TestClient, admin: dict[str, str]) -> None:
    # Before: strftime("%Y") wrote year 1 as "1-01-01T00:00:00-00:00", not an XML date-time.
    moment = "0001-01-01T00:00:00Z"
    draft = _draft(first_seen_at=moment, last_seen_at=moment)
    created = client.post("/api/v1/alerts/ingest", json=draft, headers=admin)
    assert created.status_code == 201, created.text
    cap = client.get(f"/api/v1/alerts/{created.json()['id']}/cap", headers=admin)
    assert cap.status_code == 200
    assert "<sent>0001-01-01T00:00:00-00:00</sent>" in cap.text
