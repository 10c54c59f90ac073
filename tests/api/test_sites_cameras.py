"""Sites and cameras CRUD over HTTP on the migrated database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

Auth = Callable[..., dict[str, str]]

SITE = {
    "slug": "cap-sicie",
    "name": "Vigie du cap Sicié",
    "kind": "fire",
    "longitude": 5.8625,
    "latitude": 43.0519,
}
CAMERA = {
    "slug": "north",
    "name": "Nord",
    "role": "lookout",
    "source_uri": "rtsp://viewer:hunter2@10.0.0.5/stream1",
    "longitude": 5.8626,
    "latitude": 43.0520,
    "heading_deg": 350.0,
    "hfov_deg": 54.0,
    "poses": [{"name": "p1", "heading_deg": 10.0}],
}


@pytest.fixture
def admin(auth: Auth) -> dict[str, str]:
    return auth("admin")


def test_site_and_camera_round_trip(client: TestClient, admin: dict[str, str], auth: Auth) -> None:
    created = client.post("/api/v1/sites", json=SITE, headers=admin)
    assert created.status_code == 201, created.text
    site = created.json()
    assert (site["slug"], site["longitude"], site["latitude"]) == ("cap-sicie", 5.8625, 43.0519)

    reader = auth("operator")
    assert client.get(f"/api/v1/sites/{site['id']}", headers=reader).json() == site
    assert [s["slug"] for s in client.get("/api/v1/sites", headers=reader).json()] == ["cap-sicie"]

    patched = client.patch(f"/api/v1/sites/{site['id']}", json={"name": "Cap Sicié"}, headers=admin)
    assert patched.status_code == 200 and patched.json()["name"] == "Cap Sicié"
    assert patched.json()["slug"] == "cap-sicie"

    cam = client.post(f"/api/v1/sites/{site['id']}/cameras", json=CAMERA, headers=admin)
    assert cam.status_code == 201, cam.text
    camera = cam.json()
    assert camera["site_id"] == site["id"] and camera["poses"][0]["name"] == "p1"
    assert "hunter2" not in cam.text  # credentials in stream URLs are redacted

    listed = client.get(f"/api/v1/sites/{site['id']}/cameras", headers=reader).json()
    assert [c["id"] for c in listed] == [camera["id"]]
    moved = client.patch(f"/api/v1/cameras/{camera['id']}", json={"heading_deg": 12.5}, headers=admin)
    assert moved.status_code == 200 and moved.json()["heading_deg"] == 12.5
    assert client.get(f"/api/v1/cameras/{camera['id']}", headers=reader).json()["heading_deg"] == 12.5

    assert client.delete(f"/api/v1/cameras/{camera['id']}", headers=admin).status_code == 204
    assert client.get(f"/api/v1/cameras/{camera['id']}", headers=reader).status_code == 404
    assert client.delete(f"/api/v1/sites/{site['id']}", headers=admin).status_code == 204
    assert client.get("/api/v1/sites", headers=reader).json() == []


def test_deleting_a_site_deletes_its_cameras(client: TestClient, admin: dict[str, str]) -> None:
    site = client.post("/api/v1/sites", json=SITE, headers=admin).json()
    camera = client.post(f"/api/v1/sites/{site['id']}/cameras", json=CAMERA, headers=admin).json()
    client.delete(f"/api/v1/sites/{site['id']}", headers=admin)
    assert client.get(f"/api/v1/cameras/{camera['id']}", headers=admin).status_code == 404


def test_unknown_ids_are_404_naming_the_id(client: TestClient, admin: dict[str, str]) -> None:
    for path in ("/api/v1/cameras/424242", "/api/v1/sites/424242", "/api/v1/sites/424242/cameras"):
        response = client.get(path, headers=admin)
        assert response.status_code == 404, path
        assert response.json()["error"] == "not_found"
        assert "424242" in response.json()["detail"]
    health = client.put("/api/v1/cameras/424242/health", json={"state": "up"}, headers=admin)
    assert health.status_code == 404 and "424242" in health.json()["detail"]


def test_duplicate_slugs_are_409(client: TestClient, admin: dict[str, str]) -> None:
    site = client.post("/api/v1/sites", json=SITE, headers=admin).json()
    again = client.post("/api/v1/sites", json=SITE | {"name": "Other"}, headers=admin)
    assert again.status_code == 409
    assert again.json()["error"] == "conflict" and "cap-sicie" in again.json()["detail"]

    client.post(f"/api/v1/sites/{site['id']}/cameras", json=CAMERA, headers=admin)
    camera_again = client.post(f"/api/v1/sites/{site['id']}/cameras", json=CAMERA, headers=admin)
    assert camera_again.status_code == 409 and "north" in camera_again.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/sites", SITE | {"longitude": 200.0}, "longitude"),
        ("/api/v1/sites", SITE | {"latitude": -91.0}, "latitude"),
        ("/api/v1/sites", SITE | {"slug": "Bad Slug"}, "slug"),
        ("/api/v1/sites", SITE | {"kind": "volcano"}, "kind"),
    ],
)
def test_invalid_fields_are_422_naming_the_field(
    client: TestClient, admin: dict[str, str], path: str, body: dict, field: str
) -> None:
    response = client.post(path, json=body, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"] == "validation_error"
    assert [item["loc"][-1] for item in response.json()["detail"]] == [field]
    # The submitted values are not echoed back (they can be plates, tokens, whole bodies).
    assert all("input" not in item for item in response.json()["detail"])
    assert "cap Sicié" not in response.text
    assert client.get("/api/v1/sites", headers=admin).json() == []


def test_camera_heading_out_of_range_is_422(client: TestClient, admin: dict[str, str]) -> None:
    site = client.post("/api/v1/sites", json=SITE, headers=admin).json()
    response = client.post(
        f"/api/v1/sites/{site['id']}/cameras", json=CAMERA | {"heading_deg": 361}, headers=admin
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "heading_deg"]
