"""Bounded, deterministic fuzzing of every operation of the OpenAPI document with schemathesis (in process,
through ASGI: no network).

With an admin token, each operation gets its schema's examples, schemathesis' boundary cases (coverage
phase) and a few generated requests, valid and invalid. Every answer must be below 500, match the
documented media type and schema (4xx: the house `{"error", "detail"}` body), and show no traceback.
Without a token, every protected operation must answer 401 to well-formed requests.

The examples are derandomized (a fixed seed per operation), so a failure reproduces; schemathesis prints
the request as a curl command. For a longer exploration, raise VIGIE_FUZZ_EXAMPLES (e.g. 200).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from schemathesis.config import SchemathesisConfig

from vigie.api import routes_shoreline
from vigie.api.app import create_app
from vigie.services.fire_settings import FireServiceSettings
from vigie.settings import Settings
from vigie.store.db import make_engine, upgrade

SECRET = "api-fuzz-tests-secret-" + "k" * 32
ADMIN_TOKEN = "fuzz-admin-" + "t" * 32
VICTIM_TOKEN_ID = 2  # the first token made after the bootstrap admin's
FUZZ_EXAMPLES = int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "4"))  # generated requests per operation
# Operations that answer without a token, on purpose (see tests/api/test_ops.py).
PUBLIC = {
    ("GET", "/health"),
    ("GET", "/metrics"),
    ("POST", "/api/v1/shoreline/stations/{slug}/photos"),
    ("GET", "/api/v1/shoreline/photos/{photo_id}"),
}
# Internals that must never reach a client (a traceback, SQL, a driver's message).
LEAKS = ("Traceback (most recent call last)", "[SQL: ", "(Background on this error at")


def _seed(client: TestClient) -> None:
    """A few rows through the API, so that fuzzed ids and slugs sometimes reach real objects."""
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}

    def created(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(path, headers=admin, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    site = created("/api/v1/sites", {"slug": "s1", "name": "S1", "kind": "mixed"})
    created(f"/api/v1/sites/{site['id']}/cameras", {"slug": "c1", "name": "C1", "role": "lookout"})
    created("/api/v1/lapi/car-parks", {"site_id": site["id"], "slug": "p1", "name": "P1", "capacity": 10})
    # Revoking tokens is fuzzed on this one: the admin token (id 1) must survive the run.
    assert created("/api/v1/tokens", {"name": "victim", "roles": ["planner"]})["id"] == VICTIM_TOKEN_ID


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on a migrated SQLite file of its own (module scope: one database for every operation)."""
    folder: Path = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{(folder / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET,
        database_url=url,
        bootstrap_admin_token=ADMIN_TOKEN,
        data_dir=folder / "data",
        samples_dir=None,
    )
    app = create_app(settings, engine=engine)
    app.state.fire_settings = FireServiceSettings(_env_file=None, webhook_urls=[])  # no webhook calls
    app.state.shoreline_upload_limiter = routes_shoreline.upload_rate_limiter(limit=1_000_000)
    with TestClient(app) as client:
        _seed(client)
    yield app
    engine.dispose()


def _schema(*, mode: str, phases: list[str], **extra: Any) -> Any:
    """The API's OpenAPI document as a schemathesis schema. It is read from an app that never starts (no
    database at collection time); each test sends its requests to the module's app (`call(app=...)`)."""
    never_started = create_app(
        Settings(_env_file=None, env="test", secret_key=SECRET, database_url="sqlite://")
    )
    config = SchemathesisConfig.from_dict(
        {
            "seed": 20261128,
            "generation": {
                "mode": mode,
                "max-examples": FUZZ_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {p: {"enabled": p in phases} for p in ("examples", "coverage", "fuzzing", "stateful")},
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
                "content_type_conformance": {"enabled": True},
            },
            "suppress-health-check": ["all"],
            "cache": {"enabled": False},
            **extra,
        }
    )
    return schemathesis.openapi.from_dict(never_started.openapi(), config=config)


admin_api = _schema(
    mode="all",
    phases=["examples", "coverage", "fuzzing"],
    headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    parameters={"token_id": VICTIM_TOKEN_ID},
)
# Well-formed requests only: a body that is not JSON is refused (400) before the token is looked at.
anonymous_api = _schema(mode="positive", phases=["examples", "fuzzing"])


def _assert_house_error(response: Any) -> None:
    text = response.text
    assert not any(leak in text for leak in LEAKS), text[:500]
    if response.status_code >= 400:
        body = response.json()
        assert isinstance(body, dict) and set(body) == {"error", "detail"}, text[:500]


@admin_api.parametrize()
def test_every_operation_answers_bad_input_with_a_clear_4xx(case: Any, fuzz_app: FastAPI) -> None:
    response = case.call_and_validate(app=fuzz_app)
    _assert_house_error(response)


@anonymous_api.parametrize()
def test_protected_operations_answer_401_without_a_token(case: Any, fuzz_app: FastAPI) -> None:
    response = case.call_and_validate(app=fuzz_app)
    _assert_house_error(response)
    if (case.method.upper(), case.operation.path) not in PUBLIC:
        assert response.status_code == 401, (case.method, case.formatted_path, response.text[:300])
