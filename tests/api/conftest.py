"""API test fixtures: an app on the migrated `engine` (SQLite and PostgreSQL) and tokens per role."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker

TEST_SECRET = "api-tests-secret-" + "k" * 32

Headers = dict[str, str]


@pytest.fixture
def api_settings(db_url: str) -> Settings:
    # Explicit values (and no .env file) so that the developer's environment cannot leak into the tests.
    return Settings(
        _env_file=None,
        env="test",
        secret_key=TEST_SECRET,
        database_url=db_url,
        bootstrap_admin_token=None,
    )


@pytest.fixture
def client(api_settings: Settings, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def issue_token(engine: sqlalchemy.Engine) -> Callable[..., str]:
    """`issue_token("planner", "coastal")` stores a token with those roles and returns its clear value."""

    def issue(*roles: str, name: str | None = None) -> str:
        with make_sessionmaker(engine)() as session:
            _, clear = create_token(session, name=name or "-".join(roles), roles=roles, secret=TEST_SECRET)
            session.commit()
        return clear

    return issue


@pytest.fixture
def auth(issue_token: Callable[..., str]) -> Callable[..., Headers]:
    """`auth("operator")`: Authorization headers of a fresh token holding those roles."""

    def headers(*roles: str) -> Headers:
        return {"Authorization": f"Bearer {issue_token(*roles)}"}

    return headers
