"""Idempotent count-bin writes and the delete rules between tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from vigie.errors import InvalidInputError
from vigie.store.models import (
    Alert,
    AlertEvent,
    AlertKind,
    AlertStatus,
    Camera,
    CameraHealth,
    CameraPose,
    CameraRole,
    CountBin,
    Detection,
    ParkingSession,
    PlateFormat,
    PlateRead,
    Site,
    SiteKind,
)
from vigie.store.upsert import upsert_count_bins

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def _site_and_camera(session) -> tuple[Site, Camera]:
    site = Site(slug="rocade", name="Rocade", kind=SiteKind.TRAFFIC)
    camera = Camera(site=site, slug="cam1", name="Cam 1", role=CameraRole.TRAFFIC)
    session.add(site)
    session.flush()
    return site, camera


def _bin(site: Site, camera: Camera, count: int, **overrides) -> dict:
    values = {
        "site_id": site.id,
        "camera_id": camera.id,
        "line": "north",
        "direction": "in",
        "class_name": "car",
        "period_start": T0,
        "period_end": T0 + timedelta(minutes=15),
        "count": count,
        "partial": True,
        "model_name": "yolov4-tiny",
        "model_version": "0.1.2",
    }
    return values | overrides


def test_count_bin_upsert_replaces_instead_of_adding(session):
    site, camera = _site_and_camera(session)
    upsert_count_bins(session, [_bin(site, camera, 7)])
    upsert_count_bins(session, [_bin(site, camera, 12, partial=False, model_version="0.1.3")])
    upsert_count_bins(session, [_bin(site, camera, 3, direction="out")])  # another key: a new row
    session.commit()
    rows = session.scalars(select(CountBin).order_by(CountBin.direction)).all()
    assert [(r.direction, r.count, r.partial, r.model_version) for r in rows] == [
        ("in", 12, False, "0.1.3"),
        ("out", 3, True, "0.1.2"),
    ]
    assert rows[0].period_start == T0
    assert rows[0].updated_at >= rows[0].created_at


def test_count_bin_upsert_rejects_naive_period(session):
    site, camera = _site_and_camera(session)
    with pytest.raises(InvalidInputError, match=r"count_bins\.period_start"):
        upsert_count_bins(session, [_bin(site, camera, 1, period_start=datetime(2025, 3, 1, 8, 0))])


def test_count_bin_key_is_unique(session):
    site, camera = _site_and_camera(session)
    session.add_all([CountBin(**_bin(site, camera, 1)), CountBin(**_bin(site, camera, 2))])
    with pytest.raises(IntegrityError):
        session.flush()


def _populate(session):
    site, camera = _site_and_camera(session)
    pose = CameraPose(camera=camera, name="p1", heading_deg=90.0)
    session.add_all([pose, CameraHealth(camera=camera)])
    session.flush()
    alert = Alert(
        site_id=site.id,
        kind=AlertKind.SMOKE,
        first_seen_at=T0,
        last_seen_at=T0,
        model_name="fire",
        model_version="1",
        events=[AlertEvent(actor="worker", to_status=AlertStatus.NEW, at=T0)],
    )
    session.add(alert)
    session.flush()
    detection = Detection(
        camera_id=camera.id,
        pose_id=pose.id,
        alert_id=alert.id,
        captured_at=T0,
        pipeline="fire",
        class_name="smoke",
        confidence=0.7,
        x1=0,
        y1=0,
        x2=10,
        y2=10,
        model_name="fire",
        model_version="1",
    )
    read = PlateRead(
        camera_id=camera.id,
        read_at=T0,
        plate_hash="f" * 64,
        plate_format=PlateFormat.SIV,
        confidence=0.9,
        x1=0,
        y1=0,
        x2=10,
        y2=5,
        model_name="plates",
        model_version="1",
    )
    session.add_all([detection, read])
    session.flush()
    parking = ParkingSession(site_id=site.id, plate_hash=read.plate_hash, entry_read_id=read.id, entry_at=T0)
    session.add(parking)
    upsert_count_bins(session, [_bin(site, camera, 5)])
    session.commit()
    return site, camera, pose, alert, detection, read, parking


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_deleting_a_site_cascades_but_keeps_its_alerts(session):
    site, _camera, _pose, alert, *_ = _populate(session)
    alert_id = alert.id
    session.delete(site)
    session.commit()
    session.expunge_all()
    for model in (Camera, CameraPose, CameraHealth, Detection, PlateRead, ParkingSession, CountBin):
        assert _count(session, model) == 0, model.__tablename__
    kept = session.get(Alert, alert_id)
    assert kept is not None
    assert kept.site_id is None
    assert len(kept.events) == 1


def test_deleting_a_pose_or_alert_unlinks_detections(session):
    _site, _camera, pose, alert, detection, *_ = _populate(session)
    detection_id = detection.id
    session.delete(pose)
    session.delete(alert)
    session.commit()
    session.expunge_all()
    kept = session.get(Detection, detection_id)
    assert (kept.pose_id, kept.alert_id) == (None, None)
    assert _count(session, AlertEvent) == 0


def test_purging_plate_reads_keeps_parking_sessions(session):
    *_, read, parking = _populate(session)
    parking_id = parking.id
    session.delete(read)
    session.commit()
    session.expunge_all()
    kept = session.get(ParkingSession, parking_id)
    assert kept.entry_read_id is None
    assert kept.entry_at == T0


def test_bulk_delete_relies_on_database_cascades(session):
    """Core DELETE bypasses the ORM: cascades must come from foreign keys (PRAGMA foreign_keys on SQLite)."""
    site, *_ = _populate(session)
    session.execute(Site.__table__.delete().where(Site.__table__.c.id == site.id))
    session.commit()
    assert _count(session, Camera) == 0
    assert _count(session, Detection) == 0


def test_enum_check_constraint_refuses_unknown_value(engine):
    with engine.begin() as connection, pytest.raises(IntegrityError):
        connection.exec_driver_sql(
            "INSERT INTO sites (slug, name, kind, timezone, created_at, updated_at) "
            "VALUES ('x', 'X', 'volcano', 'UTC', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        )
