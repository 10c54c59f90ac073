"""Shoreline test fixtures: an app on the migrated `engine` (SQLite and PostgreSQL), tokens per role, media
under the test's tmp_path, and the shared Manly CoastSnap folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker

TEST_SECRET = "shoreline-tests-secret-" + "k" * 32


@pytest.fixture
def api_settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        secret_key=TEST_SECRET,
        database_url=db_url,
        bootstrap_admin_token=None,
        data_dir=tmp_path / "data",
        samples_dir=None,
    )


@pytest.fixture
def client(api_settings: Settings, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    with TestClient(create_app(api_settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def auth(engine: sqlalchemy.Engine) -> Callable[..., dict[str, str]]:
    """`auth("coastal")`: Authorization headers of a fresh token holding those roles."""

    def headers(*roles: str) -> dict[str, str]:
        with make_sessionmaker(engine)() as session:
            _, clear = create_token(session, name="-".join(roles), roles=roles, secret=TEST_SECRET)
            session.commit()
        return {"Authorization": f"Bearer {clear}"}

    return headers


@pytest.fixture
def manly_dir(shared_datasets: Path) -> Path:
    path = shared_datasets / "coastal" / "manly-coastsnap"
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path
