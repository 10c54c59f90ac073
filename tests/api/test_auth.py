"""Bearer-token authentication and the role matrix, through HTTP and at the service level."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigie.api.app import create_app
from vigie.errors import InvalidInputError, PermissionDeniedError
from vigie.services.tokens import (
    AuthenticationError,
    Principal,
    Role,
    authenticate,
    create_token,
    hash_token,
    parse_roles,
)
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import ApiToken

SITE = {"slug": "massif-des-maures", "name": "Massif des Maures", "kind": "fire"}


# --- pure units ---------------------------------------------------------------------------------------


def test_admin_principal_passes_every_role_check() -> None:
    admin = Principal(name="root", roles=frozenset({Role.ADMIN}))
    assert all(admin.allows(role) for role in Role)


def test_principal_without_the_role_is_refused_naming_what_it_lacks() -> None:
    planner = Principal(name="dir-routes", roles=frozenset({Role.PLANNER}))
    assert planner.allows("planner") and not planner.allows("operator")
    with pytest.raises(PermissionDeniedError, match=r"operator.*planner"):
        planner.require(Role.OPERATOR)


def test_unknown_role_is_rejected_by_name() -> None:
    with pytest.raises(InvalidInputError, match="firefighter"):
        parse_roles(["operator", "firefighter"])
    with pytest.raises(InvalidInputError, match="at least one"):
        parse_roles([])
    assert parse_roles(["worker", "admin", "worker"]) == [Role.ADMIN, Role.WORKER]


def test_hash_depends_on_secret_and_token() -> None:
    assert hash_token("abc", "secret-1") != hash_token("abc", "secret-2")
    assert hash_token("abc", "secret-1") != hash_token("abd", "secret-1")
    assert len(hash_token("abc", "secret-1")) == 64


# --- service level ------------------------------------------------------------------------------------


def test_only_the_hmac_is_stored_and_it_authenticates(session) -> None:
    row, clear = create_token(session, name="cctv-worker", roles=["worker"], secret="s" * 40)
    session.commit()
    stored = session.scalar(select(ApiToken).where(ApiToken.id == row.id))
    assert stored.token_hash == hash_token(clear, "s" * 40)
    assert clear not in (stored.token_hash, stored.name)
    principal = authenticate(session, token=clear, secret="s" * 40)
    assert principal == Principal(name="cctv-worker", roles=frozenset({Role.WORKER}), token_id=row.id)
    assert stored.last_used_at is not None
    with pytest.raises(AuthenticationError):
        authenticate(session, token=clear, secret="another-secret" * 3)


def test_roles_unknown_to_this_version_grant_nothing(session) -> None:
    row, clear = create_token(session, name="legacy", roles=["planner"], secret="s" * 40)
    row.roles = ["planner", "retired-role"]
    session.commit()
    assert authenticate(session, token=clear, secret="s" * 40).roles == frozenset({Role.PLANNER})


def test_expired_token_does_not_authenticate(session) -> None:
    row, clear = create_token(
        session,
        name="temp",
        roles=["planner"],
        secret="s" * 40,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.commit()
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate(session, token=clear, secret="s" * 40)


# --- HTTP ---------------------------------------------------------------------------------------------


def test_missing_or_bad_credentials_are_401_with_bearer_challenge(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = client.get("/api/v1/sites", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"] == "unauthenticated"


@pytest.mark.parametrize(
    ("role", "method", "path", "expected"),
    [
        ("planner", "GET", "/api/v1/sites", 200),
        ("operator", "POST", "/api/v1/sites", 403),
        ("admin", "POST", "/api/v1/sites", 201),
        ("worker", "GET", "/api/v1/tokens", 403),
        ("admin", "GET", "/api/v1/tokens", 200),
        ("coastal", "PUT", "/api/v1/cameras/{camera_id}/health", 403),
        ("worker", "PUT", "/api/v1/cameras/{camera_id}/health", 200),
        ("admin", "PUT", "/api/v1/cameras/{camera_id}/health", 200),
        ("parking", "GET", "/api/v1/health/cameras", 200),
    ],
)
def test_role_matrix(
    client: TestClient, auth: Callable[..., dict[str, str]], role: str, method: str, path: str, expected: int
) -> None:
    admin = auth("admin")
    site = client.post("/api/v1/sites", json=SITE | {"slug": "existing"}, headers=admin).json()
    camera = client.post(
        f"/api/v1/sites/{site['id']}/cameras",
        json={"slug": "cam-1", "name": "Cam 1", "role": "lookout"},
        headers=admin,
    ).json()
    body = {"PUT": {"state": "up"}, "POST": SITE}.get(method)
    response = client.request(method, path.format(camera_id=camera["id"]), json=body, headers=auth(role))
    assert response.status_code == expected, response.text
    if expected == 403:
        assert response.json()["error"] == "forbidden"
        assert role in response.json()["detail"]


def test_token_routes_create_once_list_without_secret_and_revoke(
    client: TestClient, auth: Callable[..., dict[str, str]], engine: sqlalchemy.Engine
) -> None:
    admin = auth("admin")
    created = client.post("/api/v1/tokens", json={"name": "salle-feux", "roles": ["operator"]}, headers=admin)
    assert created.status_code == 201, created.text
    clear = created.json()["token"]
    operator = {"Authorization": f"Bearer {clear}"}
    assert client.get("/api/v1/sites", headers=operator).status_code == 200

    listed = client.get("/api/v1/tokens", headers=admin).json()
    mine = next(item for item in listed if item["id"] == created.json()["id"])
    assert mine["roles"] == ["operator"] and mine["last_used_at"] is not None
    assert "token" not in mine and "token_hash" not in mine
    assert clear not in client.get("/api/v1/tokens", headers=admin).text
    with make_sessionmaker(engine)() as session:
        assert session.scalar(select(ApiToken.token_hash).where(ApiToken.id == mine["id"])) != clear

    revoked = client.delete(f"/api/v1/tokens/{mine['id']}", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    after = client.get("/api/v1/sites", headers=operator)
    assert after.status_code == 401 and "revoked" in after.json()["detail"]
    missing = client.delete("/api/v1/tokens/987654", headers=admin)
    assert missing.status_code == 404 and "987654" in missing.json()["detail"]


def test_token_creation_rejects_unknown_role(client: TestClient, auth: Callable[..., dict[str, str]]) -> None:
    response = client.post(
        "/api/v1/tokens", json={"name": "x", "roles": ["superuser"]}, headers=auth("admin")
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-2:] == ["roles", 0]


def test_bootstrap_admin_token_is_ensured_once(api_settings: Settings, engine: sqlalchemy.Engine) -> None:
    token = "bootstrap-" + "b" * 30
    settings = api_settings.model_copy(
        update={"bootstrap_admin_token": api_settings.secret_key.__class__(token)}
    )
    for _ in range(2):  # a restart must not add a second row
        with TestClient(create_app(settings, engine=engine)) as client:
            response = client.get("/api/v1/tokens", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
    assert [item["roles"] for item in response.json()] == [["admin"]]
