"""UTC-aware timestamps and JSON columns behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import StatementError

from vigie.errors import InvalidInputError
from vigie.store.models import AuditLog, Camera, CameraRole, Detection, Site, SiteKind

PARIS_SUMMER = timezone(timedelta(hours=2))


def test_naive_datetime_refused_on_assignment():
    with pytest.raises(InvalidInputError, match=r"detections\.captured_at.*naive"):
        Detection(captured_at=datetime(2025, 7, 14, 12, 0))
    entry = AuditLog(actor="a", action="read", object="plate_reads/1")
    with pytest.raises(InvalidInputError, match="naive"):
        entry.at = datetime(2025, 7, 14, 12, 0)


def test_a_time_outside_the_calendar_once_in_utc_is_refused_by_name():
    # Year 1, one hour east of UTC: its UTC instant is before 0001-01-01, which no datetime holds.
    with pytest.raises(
        InvalidInputError, match=r"detections\.captured_at: 0001-01-01T00:00:00\+01:00 is outside"
    ):
        Detection(captured_at=datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1))))


def test_naive_datetime_refused_by_core_insert(engine):
    with engine.begin() as connection, pytest.raises(StatementError) as caught:
        connection.execute(
            insert(AuditLog), {"at": datetime(2025, 1, 1), "actor": "a", "action": "x", "object": "o"}
        )
    assert isinstance(caught.value.orig, InvalidInputError)


def test_aware_datetimes_come_back_as_utc(session):
    site = Site(slug="s", name="S", kind=SiteKind.TRAFFIC)
    camera = Camera(site=site, slug="c", name="C", role=CameraRole.TRAFFIC)
    captured = datetime(2025, 7, 14, 14, 30, 15, 123456, tzinfo=PARIS_SUMMER)
    detection = Detection(
        captured_at=captured,
        pipeline="traffic",
        class_name="car",
        confidence=0.8,
        x1=1.5,
        y1=2.5,
        x2=30.25,
        y2=40.75,
        model_name="yolov4-tiny",
        model_version="0.1.2",
        data={"lane": 2, "speed_kmh": None, "tags": ["a", "é"]},
    )
    session.add_all([site, camera])
    session.flush()
    detection.camera_id = camera.id
    session.add(detection)
    session.commit()
    detection_id = detection.id
    session.expunge_all()

    back = session.get(Detection, detection_id)
    assert back.captured_at.tzinfo is not None
    assert back.captured_at.utcoffset() == timedelta(0)
    assert back.captured_at == captured
    assert back.captured_at.hour == 12  # 14:30 at UTC+2
    assert back.created_at.utcoffset() == timedelta(0)
    assert abs(back.created_at - datetime.now(UTC)) < timedelta(minutes=5)
    assert back.data == {"lane": 2, "speed_kmh": None, "tags": ["a", "é"]}
    assert (back.x1, back.y1, back.x2, back.y2) == (1.5, 2.5, 30.25, 40.75)
    assert isinstance(back.x1, float)
