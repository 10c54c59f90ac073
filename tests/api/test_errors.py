"""Domain errors become one JSON body shape with the right status; validation errors keep FastAPI's detail."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from vigie.api.errors import install_error_handlers
from vigie.errors import (
    AuthenticationError,
    ConfigError,
    ConflictError,
    InvalidInputError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
    SourceError,
    VigieError,
)

RAISED = {
    "invalid": InvalidInputError("frame: expected a 3-channel image"),
    "config": ConfigError("site.yaml: cameras[0].heading_deg: expected 0..360"),
    "missing": NotFoundError("camera id 42 does not exist"),
    "conflict": ConflictError("a site with slug 'x' already exists"),
    "denied": PermissionDeniedError("token 'a' needs role admin"),
    "model": ModelUnavailableError("model fire-yolov8 missing: run `vigie weights fetch fire-yolov8`"),
    "source": SourceError("rtsp://cam: connection refused"),
    "unauthenticated": AuthenticationError("unknown API token"),
    "unmapped": VigieError("something nobody mapped"),
}


class Payload(BaseModel):
    longitude: float = Field(ge=-180, le=180)


@pytest.fixture(scope="module")
def client() -> TestClient:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/raise/{name}")
    def raise_it(name: str) -> None:
        raise RAISED[name]

    @app.post("/validate")
    def validate(payload: Payload) -> Payload:
        return payload

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("name", "status", "code"),
    [
        ("invalid", 422, "invalid_input"),
        ("config", 422, "invalid_config"),
        ("missing", 404, "not_found"),
        ("conflict", 409, "conflict"),
        ("denied", 403, "forbidden"),
        ("model", 503, "model_unavailable"),
        ("source", 502, "source_unavailable"),
        ("unauthenticated", 401, "unauthenticated"),
        ("unmapped", 500, "internal_error"),
    ],
)
def test_domain_error_maps_to_status_and_body(client: TestClient, name: str, status: int, code: str) -> None:
    response = client.get(f"/raise/{name}")
    assert response.status_code == status
    assert response.json() == {"error": code, "detail": str(RAISED[name])}
    assert ("www-authenticate" in response.headers) == (status == 401)


def test_validation_error_names_the_field(client: TestClient) -> None:
    response = client.post("/validate", json={"longitude": 200})
    assert response.status_code == 422
    body = response.json()
    assert body["error"] == "validation_error"
    assert body["detail"][0]["loc"] == ["body", "longitude"]
    assert "180" in body["detail"][0]["msg"]


def test_unknown_route_and_method_use_the_same_shape(client: TestClient) -> None:
    missing = client.get("/nowhere")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    wrong_method = client.delete("/validate")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert "POST" in wrong_method.headers["allow"]
