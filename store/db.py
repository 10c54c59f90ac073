"""Engines, sessions and Alembic migrations, for PostgreSQL + PostGIS or an embedded SQLite file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.orm import Session, sessionmaker

from vigie.errors import ConfigError

SQLITE_BUSY_TIMEOUT_MS = 10_000

# Tables PostGIS (and its optional extensions) create in the database; they are not ours to migrate.
POSTGIS_TABLES = frozenset(
    {
        "spatial_ref_sys",
        "geometry_columns",
        "geography_columns",
        "raster_columns",
        "raster_overviews",
        "topology",
        "layer",
    }
)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url` (SQLAlchemy URL), tuned per backend.

    SQLite: foreign keys enforced (cascades work), WAL journal (readers do not block the writer) and a busy
    timeout (concurrent writers wait instead of failing at once); the file's folder is created.
    PostgreSQL: `pool_pre_ping`, so connections dropped by a server restart are replaced transparently.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"database URL {url!r} is not a valid SQLAlchemy URL: {exc}") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **kwargs)
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    if backend == "postgresql":
        return create_engine(parsed, pool_pre_ping=True, **kwargs)
    raise ConfigError(f"database URL {parsed.render_as_string()!r}: expected a sqlite or postgresql URL")


def _configure_sqlite_connection(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster commits
    finally:
        cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit (services return them to callers)."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(engine_or_factory: Engine | sessionmaker[Session]) -> Iterator[Session]:
    """A session committed on success, rolled back on error, closed in both cases."""
    factory = (
        make_sessionmaker(engine_or_factory) if isinstance(engine_or_factory, Engine) else engine_or_factory
    )
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


_AFTER_COMMIT_KEY = "vigie.after_commit"
_AFTER_COMMIT_HOOKED_KEY = "vigie.after_commit_hooked"


def call_after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's transaction commits; drop it if the transaction ends otherwise
    (rollback, failed commit). For side effects outside the database: files, notifications."""
    if session.get_transaction() is None:
        session.begin()  # the callback belongs to a transaction, even one that has not touched the database
    if not session.info.get(_AFTER_COMMIT_HOOKED_KEY):
        event.listen(session, "after_commit", _run_after_commit)
        event.listen(session, "after_transaction_end", _forget_after_commit)
        session.info[_AFTER_COMMIT_HOOKED_KEY] = True
    session.info.setdefault(_AFTER_COMMIT_KEY, []).append(callback)


def _run_after_commit(session: Session) -> None:
    for callback in session.info.pop(_AFTER_COMMIT_KEY, []):
        callback()


def _forget_after_commit(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction ended without commit (else run already)
        session.info.pop(_AFTER_COMMIT_KEY, None)


# --- migrations ---------------------------------------------------------------------------------------


def alembic_config(url: str) -> Config:
    """The packaged Alembic configuration, pointed at `url` (works from an installed package)."""
    ini = resources.files("vigie.store").joinpath("alembic.ini")
    config = Config(str(ini))
    config.set_main_option("script_location", str(Path(str(ini)).parent / "migrations"))
    # `%` is ConfigParser's interpolation character (and appears in URL-encoded passwords).
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` (`base` removes every table)."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.downgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at, or None if it was never migrated."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def include_object_for(dialect_name: str) -> Callable[..., bool]:
    """Alembic `include_object` hook: skip PostGIS's own tables, and indexes meant for another backend."""

    def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        if type_ == "table" and name in POSTGIS_TABLES:
            return False
        if type_ == "index" and not reflected:
            only = obj.info.get("dialect")
            if only is not None and only != dialect_name:
                return False
        return True

    return include_object


def schema_differences(engine: Engine) -> list[Any]:
    """Differences between the database schema and the models (empty when migrations match the models)."""
    from vigie.store.models import Base  # imported here: db.py is used by the migrations' env.py too

    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={"include_object": include_object_for(connection.dialect.name), "compare_type": True},
        )
        return compare_metadata(context, Base.metadata)
