"""Replacing a station's reference image deletes the old file once the change is committed, and never
before: a rollback, a failed commit or a rolled-back savepoint keep the committed reference whole and drop
the file that was written for nothing. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import event
from sqlalchemy.orm import Session

from vigie.services import shoreline_stations
from vigie.store.db import make_engine, make_sessionmaker
from vigie.store.models import ShorelineStation

from .test_api_shoreline import beach_photo, jpeg, station_body

SLUG = "lacanau-nord"


@pytest.fixture
def station(client, auth) -> dict[str, str]:
    """A station with a first reference image (seed 30); returns the coastal headers."""
    coastal = auth("coastal")
    site = {"slug": "lacanau", "name": "Lacanau", "kind": "shoreline", "timezone": "Europe/Paris"}
    assert client.post("/api/v1/sites", json=site, headers=auth("admin")).status_code == 201
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    assert put_reference(client, coastal, jpeg(beach_photo(30))).status_code == 200
    return coastal


def put_reference(client, headers: dict[str, str], data: bytes):
    return client.put(
        f"/api/v1/shoreline/stations/{SLUG}/reference",
        files={"image": ("ref.jpg", data, "image/jpeg")},
        headers=headers,
    )


def reference_files(media: Path) -> list[str]:
    return sorted(p.name for p in (media / "shoreline" / SLUG).glob("reference-*.jpg"))


def committed_path(engine: sqlalchemy.Engine) -> str:
    with make_sessionmaker(engine)() as session:
        station = shoreline_stations.get_station(session, slug=SLUG)
        assert station.reference_image_path is not None
        return station.reference_image_path


def replace(session: Session, media: Path, seed: int) -> str:
    station = shoreline_stations.set_reference_image(
        session, slug=SLUG, data=jpeg(beach_photo(seed)), media_dir=media
    )
    assert (media / station.reference_image_path).is_file()
    return station.reference_image_path


def test_replacing_deletes_the_old_file_after_the_commit(client, station, api_settings, engine) -> None:
    media = api_settings.data_dir
    first = committed_path(engine)
    assert reference_files(media) == [Path(first).name]
    data = jpeg(beach_photo(31))
    response = put_reference(client, station, data)
    assert response.status_code == 200 and response.json()["has_reference_image"]
    second = committed_path(engine)
    assert second != first
    assert reference_files(media) == [Path(second).name]
    assert (media / second).read_bytes() == data
    # The same image again: the file in use is kept.
    assert put_reference(client, station, data).status_code == 200
    assert committed_path(engine) == second and reference_files(media) == [Path(second).name]
    # An unreadable image is refused and leaves the reference alone.
    assert put_reference(client, station, b"not an image").status_code == 422
    assert reference_files(media) == [Path(second).name]


def test_rollback_keeps_the_old_file_and_drops_the_new(client, station, api_settings, engine) -> None:
    media = api_settings.data_dir
    first = committed_path(engine)
    with make_sessionmaker(engine)() as session:
        new = replace(session, media, 32)
        session.rollback()
    assert committed_path(engine) == first
    assert reference_files(media) == [Path(first).name] and Path(new).name != Path(first).name


def test_failed_commit_keeps_the_old_reference(client, station, api_settings, engine) -> None:
    media = api_settings.data_dir
    first = committed_path(engine)
    with make_sessionmaker(engine)() as session:
        replace(session, media, 33)
        existing = shoreline_stations.get_station(session, slug=SLUG)
        # A second station with the same (site, slug): the commit's flush fails on the unique constraint.
        session.add(ShorelineStation(site_id=existing.site_id, slug=SLUG, name="twin", epsg=2154))
        with pytest.raises(sqlalchemy.exc.IntegrityError):
            session.commit()
        session.rollback()
    assert committed_path(engine) == first
    assert reference_files(media) == [Path(first).name]


@pytest.fixture
def savepoint_engine(engine: sqlalchemy.Engine, db_url: str) -> Iterator[sqlalchemy.Engine]:
    """`engine`, where savepoints work: pysqlite's default transaction handling commits at RELEASE, so on
    SQLite the driver is told to leave transactions to SQLAlchemy (the documented recipe)."""
    if engine.dialect.name != "sqlite":
        yield engine
        return
    sqlite = make_engine(db_url)

    @event.listens_for(sqlite, "connect")
    def _no_driver_transactions(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(sqlite, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN")

    yield sqlite
    sqlite.dispose()


def test_savepoints_decide_nothing_the_outer_commit_does(
    client, station, api_settings, savepoint_engine
) -> None:
    media, engine = api_settings.data_dir, savepoint_engine
    first = committed_path(engine)
    with make_sessionmaker(engine)() as session:
        # Released savepoint, then the outer transaction rolls back: nothing was committed.
        savepoint = session.begin_nested()
        new = replace(session, media, 34)
        savepoint.commit()
        assert reference_files(media) == sorted([Path(first).name, Path(new).name])  # nothing deleted yet
        session.rollback()
    assert committed_path(engine) == first and reference_files(media) == [Path(first).name]

    with make_sessionmaker(engine)() as session:
        # Rolled-back savepoint, then the outer transaction commits: the database still says `first`.
        savepoint = session.begin_nested()
        replace(session, media, 35)
        savepoint.rollback()
        session.commit()
    assert committed_path(engine) == first and reference_files(media) == [Path(first).name]

    with make_sessionmaker(engine)() as session:
        # Two replacements in one transaction: only the last one's file stays.
        replace(session, media, 36)
        last = replace(session, media, 37)
        session.commit()
    assert committed_path(engine) == last and reference_files(media) == [Path(last).name]
