"""Inputs the schemathesis fuzzer (or the hand probes that followed it) turned into 500s or schema
violations on the site, camera and token routes: each is now a clear 4xx naming the input."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.store.db import make_sessionmaker
from vigie.store.models import Camera

Headers = dict[str, str]
TOO_BIG_ID = 2**63  # one past SQLite's INTEGER (and PostgreSQL's BIGINT)


def _field_errors(response) -> list[tuple[list, str]]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return [(item["loc"], item["msg"]) for item in body["detail"]]


@pytest.fixture
def admin(auth: Callable[..., Headers]) -> Headers:
    return auth("admin")


@pytest.fixture
def camera_id(client: TestClient, admin: Headers) -> int:
    site = client.post("/api/v1/sites", headers=admin, json={"slug": "s", "name": "S", "kind": "fire"})
    assert site.status_code == 201, site.text
    camera = client.post(
        f"/api/v1/sites/{site.json()['id']}/cameras",
        headers=admin,
        json={"slug": "c", "name": "C", "role": "lookout"},
    )
    assert camera.status_code == 201, camera.text
    return camera.json()["id"]


@pytest.mark.parametrize(
    ("method", "path", "name"),
    [
        ("GET", "/api/v1/cameras/{}", "camera_id"),
        ("GET", "/api/v1/sites/{}", "site_id"),
        ("GET", "/api/v1/sites/{}/cameras", "site_id"),
        ("DELETE", "/api/v1/tokens/{}", "token_id"),
    ],
)
def test_ids_past_the_database_integers_are_a_422(
    client: TestClient, admin: Headers, method: str, path: str, name: str
) -> None:
    # Before: SQLite's driver overflowed ("Python int too large to convert to SQLite INTEGER"), a 500.
    response = client.request(method, path.format(TOO_BIG_ID), headers=admin)
    assert response.status_code == 422
    [(loc, msg)] = _field_errors(response)
    assert loc == ["path", name] and "less than or equal to 9223372036854775807" in msg
    assert client.request(method, path.format(0), headers=admin).status_code == 422  # ids start at 1


def test_camera_health_refuses_null_state_and_oversized_counters(
    client: TestClient, auth: Callable[..., Headers], camera_id: int
) -> None:
    worker = auth("worker")
    url = f"/api/v1/cameras/{camera_id}/health"
    # Before: {"state": null} reached the NOT NULL column (IntegrityError, a 500).
    response = client.put(url, headers=worker, json={"state": None})
    assert response.status_code == 422
    assert [loc for loc, _ in _field_errors(response)] == [["body", "state"]]
    # An INTEGER column: past 2**31 - 1, PostgreSQL refused the write (a 500 there).
    response = client.put(url, headers=worker, json={"state": "up", "reconnects": 2**31})
    assert response.status_code == 422
    assert [loc for loc, _ in _field_errors(response)] == [["body", "reconnects"]]
    # Omitting a field still keeps it.
    assert client.put(url, headers=worker, json={"state": "up"}).json()["state"] == "up"
    assert client.put(url, headers=worker, json={"frames_read": 5}).json()["state"] == "up"


def test_a_time_zone_name_too_long_for_a_file_name_is_a_422(client: TestClient, admin: Headers) -> None:
    # Before: zoneinfo raised OSError (file name too long), which the validator did not expect: a 500.
    body = {"slug": "tz", "name": "T", "kind": "fire", "timezone": "a" * 300}
    response = client.post("/api/v1/sites", headers=admin, json=body)
    assert response.status_code == 422
    [(loc, msg)] = _field_errors(response)
    assert loc == ["body", "timezone"] and "is not an IANA time zone name" in msg


@pytest.mark.parametrize(
    ("uri", "why"),
    [("rtsp://user:secret@[::1/stream", "Invalid IPv6 URL"), ("rtsp://user:secret@cam:99999/s", "Port")],
)
def test_unparsable_camera_uris_are_refused_without_echoing_the_password(
    client: TestClient, admin: Headers, camera_id: int, uri: str, why: str
) -> None:
    # Before: the URI was stored, then every read of the camera failed on redaction (a 500, for good).
    response = client.patch(f"/api/v1/cameras/{camera_id}", headers=admin, json={"source_uri": uri})
    assert response.status_code == 422
    [(loc, msg)] = _field_errors(response)
    assert loc == ["body", "source_uri"] and why in msg and "secret" not in response.text
    assert client.get(f"/api/v1/cameras/{camera_id}", headers=admin).status_code == 200


def test_a_stored_unparsable_uri_is_read_redacted(
    client: TestClient, admin: Headers, camera_id: int, engine: sqlalchemy.Engine
) -> None:
    with make_sessionmaker(engine)() as session:  # as written before URIs were checked
        session.get(Camera, camera_id).source_uri = "rtsp://user:secret@[::1/stream"
        session.commit()
    response = client.get(f"/api/v1/cameras/{camera_id}", headers=admin)
    assert response.status_code == 200
    assert response.json()["source_uri"] == "rtsp://***@[::1/stream"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_times_that_leave_the_calendar_in_utc_are_a_422(
    client: TestClient, admin: Headers, moment: str
) -> None:
    # Before: the conversion to UTC overflowed in the service (OverflowError, a 500).
    body = {"name": "t", "roles": ["admin"], "expires_at": moment}
    response = client.post("/api/v1/tokens", headers=admin, json=body)
    assert response.status_code == 422
    [(loc, msg)] = _field_errors(response)
    assert loc == ["body", "expires_at"] and "outside years 1 to 9999 once converted to UTC" in msg


def test_the_openapi_document_describes_the_error_body_and_media_types(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    # Before: 422 was documented as FastAPI's {"detail": [...]}, while domain errors send a string detail.
    assert "HTTPValidationError" not in document["components"]["schemas"]
    error = document["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "detail"}
    site = document["paths"]["/api/v1/sites/{site_id}"]["get"]["responses"]
    assert site["4XX"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    # Before: these were documented as application/json.
    media = {
        "/api/v1/traffic/sites.geojson": "application/geo+json",
        "/api/v1/alerts/stream": "text/event-stream",
        "/api/v1/shoreline/stations/{slug}/shorelines.geojson": "application/geo+json",
        "/api/v1/shoreline/stations/{slug}/shorelines.csv": "text/csv",
        "/api/v1/shoreline/stations/{slug}/report.pdf": "application/pdf",
    }
    for path, media_type in media.items():
        assert list(document["paths"][path]["get"]["responses"]["200"]["content"]) == [media_type], path
