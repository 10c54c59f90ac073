"""Migrations build exactly the models' schema on SQLite and PostgreSQL, and downgrade cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from vigie.store.db import (
    alembic_config,
    current_revision,
    downgrade,
    make_engine,
    schema_differences,
    upgrade,
)
from vigie.store.models import Base


def _head(url: str) -> str:
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def test_packaged_config_points_inside_the_package(db_url):
    config = alembic_config(db_url)
    location = Path(config.get_main_option("script_location"))
    assert (location / "env.py").is_file()
    assert (
        location.parent == Path(__file__).resolve().parents[2] / "store" or (location / "versions").is_dir()
    )
    assert config.get_main_option("sqlalchemy.url") == db_url


def test_upgrade_matches_models_then_downgrade_removes_everything(db_url):
    assert current_revision(db_url) is None
    upgrade(db_url)
    assert current_revision(db_url) == _head(db_url)
    engine = make_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert set(Base.metadata.tables) <= tables
        assert schema_differences(engine) == []

        downgrade(db_url, "base")
        assert current_revision(db_url) is None
        assert set(Base.metadata.tables).isdisjoint(inspect(engine).get_table_names())

        upgrade(db_url)  # the downgrade left nothing behind that blocks a fresh upgrade
        assert current_revision(db_url) == _head(db_url)
    finally:
        engine.dispose()


def test_schema_comparison_detects_a_drift(engine):
    """Control for the test above: a schema that differs from the models is reported."""
    with engine.begin() as connection:
        connection.execute(text("DROP INDEX ix_detections_camera_id_captured_at"))
        connection.execute(text("ALTER TABLE sites ADD COLUMN stray INTEGER"))
    differences = [str(diff) for diff in schema_differences(engine)]
    assert any("ix_detections_camera_id_captured_at" in diff for diff in differences)
    assert any("stray" in diff for diff in differences)


def test_upgrade_is_idempotent(engine, db_url):
    upgrade(db_url)
    assert current_revision(db_url) == _head(db_url)
