"""Migration 0007: the camera_health CHECK constraint accepts `ended`, and the downgrade removes it again."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from vigie.store.db import downgrade, make_engine, upgrade


def _camera(engine: Engine) -> int:
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO sites (slug, name, kind, timezone, created_at, updated_at) "
                "VALUES ('s', 'S', 'fire', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO cameras (site_id, slug, name, role, enabled, created_at, updated_at) "
                "SELECT id, 'c', 'C', 'lookout', true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM sites"
            )
        )
        return int(connection.execute(text("SELECT id FROM cameras")).scalar_one())


def _set_state(engine: Engine, camera_id: int, state: str) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM camera_health"))
        connection.execute(
            text(
                "INSERT INTO camera_health (camera_id, state, reconnects, frames_read, frames_dropped, "
                "updated_at) VALUES (:id, :state, 0, 0, 0, CURRENT_TIMESTAMP)"
            ),
            {"id": camera_id, "state": state},
        )


def _state(engine: Engine) -> str:
    with engine.connect() as connection:
        return str(connection.execute(text("SELECT state FROM camera_health")).scalar_one())


def test_ended_is_stored_after_0007_and_refused_before(db_url: str) -> None:
    upgrade(db_url, "0006")
    engine = make_engine(db_url)
    try:
        camera_id = _camera(engine)
        with pytest.raises(IntegrityError):
            _set_state(engine, camera_id, "ended")

        upgrade(db_url, "0007")
        _set_state(engine, camera_id, "ended")
        assert _state(engine) == "ended"
        with pytest.raises(IntegrityError):  # the constraint still checks the other values
            _set_state(engine, camera_id, "finished")

        downgrade(db_url, "0006")
        assert _state(engine) == "unknown"  # the old schema cannot say "ended"
        with pytest.raises(IntegrityError):
            _set_state(engine, camera_id, "ended")
        _set_state(engine, camera_id, "down")
        assert _state(engine) == "down"
    finally:
        engine.dispose()
