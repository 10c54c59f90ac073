"""Photos that processing sets aside are `flagged` with a clear reason and a stable code, and leave no
shoreline behind; `failed` stays for causes that are not the photo (station not set up, internal error).
Runs on SQLite and PostgreSQL (the new status must pass the migrated CHECK constraint on both)."""

from __future__ import annotations

import pytest
import sqlalchemy
from sqlalchemy import select, text

from vigie.services import shoreline_photos
from vigie.store.db import make_sessionmaker
from vigie.store.models import PhotoStatus, Shoreline, ShorelinePhoto

from .test_api_shoreline import beach_photo, jpeg, station_body

EXIF_TIME = "2026:05:01 14:30:00"  # Europe/Paris, UTC+2: 12:30 UTC


@pytest.fixture
def coastal(client, auth):
    headers = auth("coastal")
    site = client.post(
        "/api/v1/sites",
        json={"slug": "lacanau", "name": "Lacanau", "kind": "shoreline", "timezone": "Europe/Paris"},
        headers=auth("admin"),
    )
    assert site.status_code == 201, site.text
    return headers


@pytest.fixture
def station_with_reference(client, coastal):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    reference = client.put(
        "/api/v1/shoreline/stations/lacanau-nord/reference",
        files={"image": ("ref.jpg", jpeg(beach_photo(20)), "image/jpeg")},
        headers=coastal,
    )
    assert reference.status_code == 200, reference.text
    return coastal


def upload_and_process(client, image_seed: int) -> dict:
    response = client.post(
        "/api/v1/shoreline/stations/lacanau-nord/photos",
        files={"photo": ("p.jpg", jpeg(beach_photo(image_seed), exif_time=EXIF_TIME), "image/jpeg")},
    )
    assert response.status_code == 202, response.text
    # TestClient runs the background processing before returning.
    return client.get(f"/api/v1/shoreline/photos/{response.json()['id']}").json()


def shoreline_rows(engine: sqlalchemy.Engine, photo_id: int) -> int:
    with make_sessionmaker(engine)() as session:
        return len(session.scalars(select(Shoreline).where(Shoreline.photo_id == photo_id)).all())


def test_photo_without_water_level_is_flagged_with_its_reason_and_no_shoreline(
    client, station_with_reference, engine
):
    photo = upload_and_process(client, 21)
    assert photo["status"] == "flagged", photo
    assert photo["reason_code"] == "no_water_level" and "missing water level" in photo["reason"]
    assert photo["water_level_m"] is None
    assert shoreline_rows(engine, photo["id"]) == 0
    listed = client.get("/api/v1/shoreline/stations/lacanau-nord/photos", headers=station_with_reference)
    assert [p["status"] for p in listed.json()] == ["flagged"]
    report = client.get("/api/v1/shoreline/stations/lacanau-nord/report.html", headers=station_with_reference)
    assert "missing water level" in report.text and "flagged 1" in report.text


def test_photo_of_another_place_is_flagged_for_registration(client, station_with_reference, engine):
    levels = client.post(
        "/api/v1/shoreline/stations/lacanau-nord/water-levels",
        files={"file": ("tide.csv", "time,level_m\n2026-05-01T12:00:00Z,0.4\n2026-05-01T13:00:00Z,0.6\n")},
        headers=station_with_reference,
    )
    assert levels.status_code == 200, levels.text
    # Another random texture: nothing of the reference's view matches it.
    photo = upload_and_process(client, 22)
    assert photo["status"] == "flagged", photo
    assert photo["reason_code"] == "registration" and photo["reason"].startswith("registration failed")
    assert photo["water_level_m"] == pytest.approx(0.5)  # the level was there: the photo is the problem
    assert shoreline_rows(engine, photo["id"]) == 0
    with make_sessionmaker(engine)() as session:
        stored = session.get(ShorelinePhoto, photo["id"])
        assert stored.status == PhotoStatus.FLAGGED and stored.details["reason_code"] == "registration"
        assert stored.processed_at is not None
        # A geometry fix puts flagged photos back in the queue.
        assert shoreline_photos.reprocess(session, slug="lacanau-nord") == 1
        session.commit()
        session.refresh(stored)
        assert stored.status == PhotoStatus.PENDING


def test_station_not_set_up_is_a_failure_not_a_flag(client, coastal):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    photo = upload_and_process(client, 23)
    assert photo["status"] == "failed" and photo["reason_code"] is None
    listed = client.get("/api/v1/shoreline/stations/lacanau-nord/photos", headers=coastal).json()
    assert "no reference image" in listed[0]["reason"]


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        ("photo too dark (mean brightness 12/255, night?); expected at least 40", "too_dark"),
        (
            "photo is portrait (1440x1920); the station expects landscape photos from its cradle",
            "orientation",
        ),
        ("missing water level: the tide at the photo's time is needed", "no_water_level"),
        ("registration failed: no homography fits the matches (another place?)", "registration"),
        ("only 2 GCPs fall inside the photo after registration; the camera pose needs 3", "framing"),
        ("camera pose RMS 80.1 px above 24.0 px: GCPs carried badly", "camera_pose"),
        ("no shoreline found: 3 transects gave a sand/water edge", "no_shoreline"),
        ("something new", "other"),
        (None, None),
    ],
)
def test_flag_codes(reason, code):
    assert shoreline_photos.flag_code(reason) == code


def test_status_check_constraint_accepts_flagged_and_still_refuses_unknown_values(
    engine, client, coastal, api_settings
):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    with make_sessionmaker(engine)() as session:
        photo = shoreline_photos.ingest_photo(
            session, slug="lacanau-nord", data=jpeg(beach_photo(24)), media_dir=api_settings.data_dir
        )
        photo.status = PhotoStatus.FLAGGED
        session.commit()
        photo_id = photo.id
    with engine.connect() as connection, pytest.raises(sqlalchemy.exc.IntegrityError):
        connection.execute(
            text("UPDATE shoreline_photos SET status = 'bogus' WHERE id = :id"), {"id": photo_id}
        )
        connection.commit()
    with make_sessionmaker(engine)() as session:
        assert session.get(ShorelinePhoto, photo_id).status == PhotoStatus.FLAGGED
