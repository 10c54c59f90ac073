"""Entry/exit matching, duplicates, missed reads, overstays, subscribers, occupancy (SQLite, PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from vigie.errors import InvalidInputError, NotFoundError
from vigie.services.cameras import create_camera
from vigie.services.lapi_parking import (
    PassageOutcome,
    PassageRead,
    create_car_park,
    flag_overstays,
    occupancy,
    record_passage,
)
from vigie.services.lapi_plates import hash_plate
from vigie.services.lapi_schemas import CarParkIn, SubscriberIn
from vigie.services.lapi_subscribers import create_subscriber
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.store.models import CameraRole, ParkingSession, ParkingStatus, PlateFormat, PlateRead

SECRET = "parking-tests-secret-" + "s" * 32
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def park(session):
    site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
    entry = create_camera(session, site_id=site.id, data=CameraCreate(slug="in", name="In", role="entry"))
    exit_ = create_camera(session, site_id=site.id, data=CameraCreate(slug="out", name="Out", role="exit"))
    car_park = create_car_park(
        session,
        site_id=site.id,
        data=CarParkIn(slug="vp", name="Vieux-Port", capacity=3, overstay_after_h=12),
    )
    return car_park, entry.id, exit_.id


def passage(text: str, at: datetime, confidence: float = 0.9) -> PassageRead:
    return PassageRead(
        text=text, format=PlateFormat.SIV, confidence=confidence, read_at=at, box=(10, 20, 110, 45),
        model_name="plate-yolov8n", model_version="1.0.3", ocr_model_name="rapidocr", ocr_model_version="3",
        raw_texts=("F AB123CD 17",),
    )  # fmt: skip


def record(session, park, role: CameraRole, text: str, at: datetime, **kwargs):
    car_park, entry_id, exit_id = park
    camera_id = entry_id if role is CameraRole.ENTRY else exit_id
    return record_passage(
        session, camera_id=camera_id, car_park_id=car_park.id, role=role, passage=passage(text, at),
        secret=SECRET, **kwargs,
    )  # fmt: skip


def test_exit_closes_the_open_entry_of_the_same_plate_only(session, park):
    a = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0)
    b = record(session, park, CameraRole.ENTRY, "EF-456-GH", T0 + timedelta(minutes=10))
    out = record(session, park, CameraRole.EXIT, "ab 123 cd", T0 + timedelta(hours=2))  # other spelling

    assert a.outcome is PassageOutcome.OPENED and b.outcome is PassageOutcome.OPENED
    assert out.outcome is PassageOutcome.CLOSED
    assert out.parking_session.id == a.parking_session.id
    closed = session.get(ParkingSession, a.parking_session.id)
    assert closed.status is ParkingStatus.CLOSED
    assert closed.duration_s == pytest.approx(7200)
    assert closed.exit_read_id == out.read.id and closed.entry_read_id == a.read.id
    assert session.get(ParkingSession, b.parking_session.id).status is ParkingStatus.OPEN
    assert closed.paid is False  # visitor, and this car park does not treat an exit as paid


def test_plates_are_stored_as_keyed_hashes_without_clear_text_by_default(session, park):
    result = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0)
    read = session.get(PlateRead, result.read.id)
    assert read.plate_hash == hash_plate("AB123CD", SECRET)
    assert read.plate_hash != hash_plate("AB123CD", "another-secret-" + "x" * 32)
    assert read.plate_text is None and read.raw_texts is None
    assert read.role is CameraRole.ENTRY and read.car_park_id == park[0].id


def test_duplicate_reads_at_a_gate_do_not_open_a_second_session(session, park):
    first = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0)
    again = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0 + timedelta(seconds=30))
    assert again.outcome is PassageOutcome.DUPLICATE
    assert again.parking_session.id == first.parking_session.id
    assert len(session.scalars(select(ParkingSession)).all()) == 1


def test_entering_again_flags_the_session_whose_exit_was_missed(session, park):
    first = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0)
    second = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0 + timedelta(hours=5))
    old = session.get(ParkingSession, first.parking_session.id)
    assert old.status is ParkingStatus.FLAGGED and "without an exit read" in old.flag_reason
    assert old.exit_at == T0 + timedelta(hours=5) and old.duration_s is None
    out = record(session, park, CameraRole.EXIT, "AB-123-CD", T0 + timedelta(hours=6))
    assert out.parking_session.id == second.parking_session.id


def test_exit_without_entry_is_flagged_and_does_not_count_as_inside(session, park):
    out = record(session, park, CameraRole.EXIT, "ZZ-999-ZZ", T0)
    assert out.outcome is PassageOutcome.UNMATCHED_EXIT
    assert out.parking_session.status is ParkingStatus.FLAGGED
    occ = occupancy(
        session, car_park_id=park[0].id, start=T0, end=T0 + timedelta(hours=1), step_s=600, now=T0
    )
    assert occ.occupied_now == 0


def test_weak_reads_are_stored_but_leave_sessions_alone(session, park):
    result = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0, apply_parking=False)
    assert result.outcome is PassageOutcome.READ_ONLY
    assert session.scalars(select(ParkingSession)).all() == []
    assert session.get(PlateRead, result.read.id) is not None


def test_subscriber_validity_is_checked_at_each_read(session, park):
    car_park = park[0]
    create_subscriber(
        session, car_park_id=car_park.id, secret=SECRET,
        data=SubscriberIn(plate="AB-123-CD", valid_from=T0, valid_to=T0 + timedelta(days=1)),
    )  # fmt: skip
    inside = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0 + timedelta(hours=1))
    out = record(session, park, CameraRole.EXIT, "AB-123-CD", T0 + timedelta(hours=3))
    later = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0 + timedelta(days=2))
    before = record(session, park, CameraRole.ENTRY, "EF-456-GH", T0 + timedelta(hours=1))
    assert inside.subscriber is True and inside.parking_session.subscriber is True
    assert out.parking_session.paid is True  # nothing to pay for a subscriber
    assert later.subscriber is False  # the subscription has ended
    assert before.subscriber is False


def test_open_sessions_older_than_the_limit_are_flagged(session, park):
    old = record(session, park, CameraRole.ENTRY, "AB-123-CD", T0)
    recent = record(session, park, CameraRole.ENTRY, "EF-456-GH", T0 + timedelta(hours=10))
    assert flag_overstays(session, now=T0 + timedelta(hours=13)) == 1
    assert session.get(ParkingSession, old.parking_session.id).status is ParkingStatus.FLAGGED
    assert session.get(ParkingSession, recent.parking_session.id).status is ParkingStatus.OPEN
    # The car finally leaves: its flagged session is closed with its real duration.
    out = record(session, park, CameraRole.EXIT, "AB-123-CD", T0 + timedelta(hours=14))
    assert out.parking_session.id == old.parking_session.id
    assert out.parking_session.status is ParkingStatus.CLOSED and out.parking_session.duration_s == 14 * 3600


def test_occupancy_over_time_follows_entries_and_exits(session, park):
    for i, plate in enumerate(["AB-123-CD", "EF-456-GH", "JK-789-LM"]):
        record(session, park, CameraRole.ENTRY, plate, T0 + timedelta(hours=i))
    record(session, park, CameraRole.EXIT, "EF-456-GH", T0 + timedelta(hours=3, minutes=30))
    occ = occupancy(
        session, car_park_id=park[0].id, start=T0 - timedelta(hours=1), end=T0 + timedelta(hours=4),
        step_s=3600, now=T0 + timedelta(hours=4),
    )  # fmt: skip
    assert [p.occupied for p in occ.series] == [0, 1, 2, 3, 3, 2]
    assert (occ.occupied_now, occ.capacity, occ.free_now) == (2, 3, 1)


def test_bad_occupancy_windows_and_unknown_car_parks_are_refused(session, park):
    with pytest.raises(InvalidInputError, match="end"):
        occupancy(session, car_park_id=park[0].id, start=T0, end=T0, step_s=60)
    with pytest.raises(InvalidInputError, match="at most"):
        occupancy(session, car_park_id=park[0].id, start=T0, end=T0 + timedelta(days=30), step_s=1)
    with pytest.raises(NotFoundError, match="car park id 9999"):
        record_passage(
            session, camera_id=park[1], car_park_id=9999, role=CameraRole.ENTRY,
            passage=passage("AB-123-CD", T0), secret=SECRET,
        )  # fmt: skip
