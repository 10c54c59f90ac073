"""GDPR by design: clear text only where configured, retention purge, audit trail (SQLite and PostgreSQL)."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from vigie.errors import InvalidInputError, NotFoundError
from vigie.pipelines.lapi import park_cli
from vigie.services.cameras import create_camera
from vigie.services.lapi_gdpr import audit_plate_access, purge
from vigie.services.lapi_parking import PassageRead, create_car_park, record_passage, update_car_park
from vigie.services.lapi_schemas import CarParkIn, CarParkUpdate, SubscriberIn
from vigie.services.lapi_subscribers import create_subscriber
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import AuditLog, CameraRole, ParkingSession, ParkingSubscriber, PlateFormat, PlateRead

SECRET = "gdpr-tests-secret-" + "g" * 32
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def _setup(session, **policy):
    site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
    cams = {
        role: create_camera(
            session, site_id=site.id, data=CameraCreate(slug=role.value, name=role.value, role=role)
        )
        for role in (CameraRole.ENTRY, CameraRole.EXIT)
    }
    car_park = create_car_park(
        session, site_id=site.id, data=CarParkIn(slug="vp", name="Vieux-Port", **policy)
    )
    return car_park, cams


def _record(session, car_park, cams, role, text, at):
    read = PassageRead(
        text=text, format=PlateFormat.SIV, confidence=0.95, read_at=at, box=(1, 2, 3, 4),
        model_name="plate-yolov8n", model_version="1", raw_texts=(f"F {text} 17",),
    )  # fmt: skip
    return record_passage(
        session, camera_id=cams[role].id, car_park_id=car_park.id, role=role, passage=read, secret=SECRET
    )


def test_clear_text_is_stored_only_where_configured(session):
    car_park, cams = _setup(session, store_clear_text=True)
    stored = _record(session, car_park, cams, CameraRole.ENTRY, "AB123CD", T0).read
    assert stored.plate_text == "AB-123-CD" and stored.raw_texts == ["F AB123CD 17"]
    # The policy is switched off: the next purge clears the clear text already stored.
    update_car_park(session, car_park_id=car_park.id, data=CarParkUpdate(store_clear_text=False))
    fresh = _record(session, car_park, cams, CameraRole.ENTRY, "EF456GH", T0 + timedelta(hours=1)).read
    assert fresh.plate_text is None
    report = purge(session, now=T0 + timedelta(hours=2))
    assert report.clear_text_cleared == 1
    row = session.get(PlateRead, stored.id)
    assert row.plate_text is None and row.raw_texts is None and row.plate_hash == stored.plate_hash


def test_closed_and_paid_sessions_are_purged_at_once_open_ones_are_kept(session):
    car_park, cams = _setup(session, exit_means_paid=True, retention_days=7)
    left = _record(session, car_park, cams, CameraRole.ENTRY, "AB123CD", T0)
    _record(session, car_park, cams, CameraRole.EXIT, "AB123CD", T0 + timedelta(hours=2))
    staying = _record(session, car_park, cams, CameraRole.ENTRY, "EF456GH", T0 + timedelta(hours=1))

    report = purge(session, now=T0 + timedelta(hours=3))

    assert report.reads_deleted == 2 and report.sessions_anonymised == 1
    done = session.get(ParkingSession, left.parking_session.id)
    assert done.plate_hash is None and done.entry_read_id is None and done.exit_read_id is None
    assert done.duration_s == 7200  # statistics survive
    kept = session.get(ParkingSession, staying.parking_session.id)
    assert kept.plate_hash is not None and session.get(PlateRead, staying.read.id) is not None
    # The open session still matches its exit after the purge.
    out = _record(session, car_park, cams, CameraRole.EXIT, "EF456GH", T0 + timedelta(hours=4))
    assert out.parking_session.id == kept.id


def test_unpaid_sessions_are_kept_until_the_retention_ends(session):
    car_park, cams = _setup(session, exit_means_paid=False, retention_days=7)
    visit = _record(session, car_park, cams, CameraRole.ENTRY, "AB123CD", T0)
    _record(session, car_park, cams, CameraRole.EXIT, "AB123CD", T0 + timedelta(hours=2))

    assert purge(session, now=T0 + timedelta(days=6)).reads_deleted == 0
    assert session.get(ParkingSession, visit.parking_session.id).plate_hash is not None

    report = purge(session, now=T0 + timedelta(days=7, hours=3))
    assert report.reads_deleted == 2 and report.sessions_anonymised == 1
    assert session.scalars(select(PlateRead)).all() == []
    assert session.get(ParkingSession, visit.parking_session.id).plate_hash is None


def test_expired_subscriptions_are_deleted_after_the_retention(session):
    car_park, _ = _setup(session, retention_days=7)
    for plate, end in (("AB123CD", T0), ("EF456GH", None)):
        create_subscriber(
            session, car_park_id=car_park.id, secret=SECRET,
            data=SubscriberIn(plate=plate, valid_from=T0 - timedelta(days=30), valid_to=end),
        )  # fmt: skip
    assert purge(session, now=T0 + timedelta(days=8)).subscribers_deleted == 1
    assert len(session.scalars(select(ParkingSubscriber)).all()) == 1


def test_every_purge_and_access_is_audited_and_a_purpose_is_required(session):
    purge(session, now=T0, actor="tester")
    audit = session.scalars(select(AuditLog).where(AuditLog.action == "lapi.purge")).one()
    assert audit.actor == "tester" and audit.details["reads_deleted"] == 0
    with pytest.raises(InvalidInputError, match="purpose"):
        audit_plate_access(session, actor="x", action="lapi.reads.list", object="car_park:1", purpose=" ")


def test_purge_command_applies_the_policy(engine, db_url, monkeypatch):
    factory = make_sessionmaker(engine)
    with factory() as session:
        car_park, cams = _setup(session, exit_means_paid=True)
        _record(session, car_park, cams, CameraRole.ENTRY, "AB123CD", T0)
        _record(session, car_park, cams, CameraRole.EXIT, "AB123CD", T0 + timedelta(hours=1))
        session.commit()
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    monkeypatch.setattr(park_cli, "_settings", lambda: settings)
    parser = argparse.ArgumentParser()
    park_cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lapi", "purge", "--database-url", db_url, "--car-park", "vp"])

    assert args.func(args) == 0

    with factory() as session:
        assert session.scalars(select(PlateRead)).all() == []
        assert session.scalars(select(ParkingSession.plate_hash)).all() == [None]
    missing = parser.parse_args(["lapi", "purge", "--database-url", db_url, "--car-park", "nowhere"])
    with pytest.raises(NotFoundError, match="nowhere"):
        missing.func(missing)
