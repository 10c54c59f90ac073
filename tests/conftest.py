"""Fixtures shared by every test package."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_datasets_dir() -> Path:
    """`../shared/datasets` beside the checkout, or VIGIE_SHARED_DATASETS."""
    return Path(os.environ.get("VIGIE_SHARED_DATASETS", REPO_ROOT.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    path = shared_datasets_dir()
    if not path.is_dir():
        pytest.skip(f"shared datasets folder {path} is absent (set VIGIE_SHARED_DATASETS)")
    return path


# --- browser fixtures ---
CHROMIUM = Path("/usr/bin/chromium")  # Debian's chromium; Playwright cannot download its own here
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]


@contextmanager
def serve_app(app: object) -> Iterator[str]:
    """Serve an ASGI app with uvicorn on a free 127.0.0.1 port in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", log_config=None)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("uvicorn did not start within 20 s")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def live_server() -> Callable[[object], AbstractContextManager[str]]:
    """`with live_server(app) as base_url:` serves the app for the duration of the block."""
    return serve_app


@pytest.fixture
def chromium() -> Iterator[object]:
    """A headless Chromium (Playwright) for one test; skipped without the Debian package, failed in CI."""
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# --- database fixtures ---
# `db_url` runs each test on an empty SQLite file and on a fresh PostgreSQL schema; `engine`/`session` give
# the same databases migrated to head. PostgreSQL unreachable: those tests skip, or fail when
# VIGIE_REQUIRE_POSTGRES=1 (CI).


DEFAULT_TEST_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/vigie_test"


def _postgres_unavailable(reason: str) -> None:
    if os.environ.get("VIGIE_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required (VIGIE_REQUIRE_POSTGRES=1) but unusable: {reason}")
    pytest.skip(f"PostgreSQL unusable, set VIGIE_TEST_POSTGRES_URL: {reason}")


def _prepare_postgres(url: str) -> None:
    """Create the test database if missing and ensure PostGIS is installed in it."""
    target = make_url(url)
    try:
        engine = sqlalchemy.create_engine(target, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.close()
    except sqlalchemy.exc.OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
        maintenance = sqlalchemy.create_engine(
            target.set(database="postgres"), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
        )
        with maintenance.connect() as connection:
            connection.execute(sqlalchemy.text(f'CREATE DATABASE "{target.database}"'))
        maintenance.dispose()
    engine = sqlalchemy.create_engine(target, connect_args={"connect_timeout": 3})
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_base_url() -> str:
    """URL of the PostgreSQL test database, checked once per session."""
    url = os.environ.get("VIGIE_TEST_POSTGRES_URL", DEFAULT_TEST_POSTGRES_URL)
    try:
        _prepare_postgres(url)
    except sqlalchemy.exc.DBAPIError as exc:
        _postgres_unavailable(f"{make_url(url).render_as_string()}: {str(exc.orig).strip()}")
    return url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of an empty database: a SQLite file, or a fresh schema (first on search_path) in PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
        return
    base = make_url(request.getfixturevalue("postgres_base_url"))
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base)
    with admin.begin() as connection:
        connection.execute(sqlalchemy.text(f'CREATE SCHEMA "{schema}"'))
    # PostGIS types and functions live in `public`, hence its place on the search path.
    url = base.update_query_dict({"options": f"-csearch_path={schema},public"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sqlalchemy.text("SET LOCAL lock_timeout = '10s'"))
            connection.execute(sqlalchemy.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[sqlalchemy.Engine]:
    """An engine on `db_url` migrated to head."""
    from vigie.store.db import make_engine, upgrade

    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def session(engine: sqlalchemy.Engine) -> Iterator[Session]:
    """A session on the migrated database; uncommitted work is rolled back at the end."""
    from vigie.store.db import make_sessionmaker

    with make_sessionmaker(engine)() as session:
        yield session
        session.rollback()
