"""Camera services, presets and health reports on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.cameras import (
    create_camera,
    delete_camera,
    get_camera,
    get_camera_by_ref,
    list_cameras,
    record_camera_health,
    record_worker_heartbeat,
    update_camera,
)
from vigie.services.schemas import CameraCreate, CameraRead, CameraUpdate, SiteCreate
from vigie.services.sites import create_site
from vigie.store.models import CameraHealth, CameraRole, CameraState, WorkerStatus


@pytest.fixture
def site(session):
    return create_site(session, data=SiteCreate(slug="esterel", name="Estérel", kind="fire"))


def _camera(session, site, slug="tour-1", **fields):
    data = {
        "slug": slug,
        "name": "Tour 1",
        "role": "lookout",
        "source_uri": "rtsp://admin:s3cret@10.0.0.7:554/stream1",
        "longitude": 6.85,
        "latitude": 43.47,
        "elevation_m": 452.0,
        "heading_deg": 120.0,
        "hfov_deg": 54.5,
        "calibration_version": "cal-2025-03",
        "poses": [
            {"name": "west", "heading_deg": 270.0, "hfov_deg": 30.0},
            {"name": "east", "heading_deg": 90},
        ],
    }
    return create_camera(session, site_id=site.id, data=CameraCreate(**(data | fields)))


def test_create_read_and_lookups(session, site):
    camera = _camera(session, site)
    session.commit()
    assert get_camera(session, camera_id=camera.id) is camera
    assert get_camera_by_ref(session, site_slug="esterel", camera_slug="tour-1") is camera
    assert list_cameras(session, site_id=site.id) == [camera]
    assert list_cameras(session) == [camera]
    read = CameraRead.model_validate(camera)
    assert read.role is CameraRole.LOOKOUT
    assert (read.longitude, read.latitude, read.heading_deg) == (6.85, 43.47, 120.0)
    assert [pose.name for pose in read.poses] == ["west", "east"]
    assert "s3cret" not in read.source_uri
    assert read.source_uri == "rtsp://admin:***@10.0.0.7:554/stream1"
    assert camera.source_uri.endswith("s3cret@10.0.0.7:554/stream1")  # the worker still gets the password


def test_slug_unique_within_site_only(session, site):
    _camera(session, site)
    with pytest.raises(ConflictError, match="tour-1"):
        _camera(session, site)
    other = create_site(session, data=SiteCreate(slug="maures", name="Maures", kind="fire"))
    assert _camera(session, other).site_id == other.id


def test_not_found_errors_name_the_reference(session, site):
    with pytest.raises(NotFoundError, match="camera id 999"):
        get_camera(session, camera_id=999)
    with pytest.raises(NotFoundError, match="site id 999"):
        create_camera(session, site_id=999, data=CameraCreate(slug="c", name="C", role="traffic"))
    with pytest.raises(NotFoundError, match="site id 999"):
        list_cameras(session, site_id=999)
    with pytest.raises(NotFoundError, match="'esterel' has no camera 'nope'"):
        get_camera_by_ref(session, site_slug="esterel", camera_slug="nope")
    with pytest.raises(NotFoundError, match="site 'nowhere'"):
        get_camera_by_ref(session, site_slug="nowhere", camera_slug="tour-1")
    with pytest.raises(NotFoundError, match="camera id 999"):
        delete_camera(session, camera_id=999)


def test_update_keeps_surviving_pose_ids(session, site):
    camera = _camera(session, site)
    west_id = next(p.id for p in camera.poses if p.name == "west")
    update_camera(
        session,
        camera_id=camera.id,
        data=CameraUpdate(
            heading_deg=None,
            enabled=False,
            poses=[{"name": "west", "heading_deg": 265.0}, {"name": "north", "heading_deg": 0.0}],
        ),
    )
    session.commit()
    session.expire_all()
    camera = get_camera(session, camera_id=camera.id)
    assert camera.heading_deg is None
    assert camera.enabled is False
    assert camera.hfov_deg == 54.5  # untouched
    poses = {p.name: p for p in camera.poses}
    assert set(poses) == {"west", "north"}
    assert poses["west"].id == west_id
    assert poses["west"].heading_deg == 265.0
    with pytest.raises(InvalidInputError, match="'name' cannot be null"):
        update_camera(session, camera_id=camera.id, data=CameraUpdate(name=None))


def test_delete_camera(session, site):
    camera = _camera(session, site)
    delete_camera(session, camera_id=camera.id)
    session.commit()
    assert list_cameras(session) == []


@pytest.mark.parametrize(
    ("fields", "where"),
    [
        ({"heading_deg": 361}, "heading_deg"),
        ({"heading_deg": -1}, "heading_deg"),
        ({"hfov_deg": 0}, "hfov_deg"),
        ({"hfov_deg": 181}, "hfov_deg"),
        ({"latitude": 95, "longitude": 1}, "latitude"),
        ({"role": "drone"}, "role"),
        ({"poses": [{"name": "a", "heading_deg": 1}, {"name": "a", "heading_deg": 2}]}, "unique"),
        ({"zoom": 3}, "zoom"),
    ],
)
def test_camera_schema_rejects(fields, where):
    with pytest.raises(ValidationError, match=where):
        CameraCreate(**({"slug": "c", "name": "C", "role": "lookout"} | fields))


def test_record_camera_health_merges_reports(session, site):
    camera = _camera(session, site)
    frame_at = datetime(2025, 8, 1, 10, 0, tzinfo=UTC)
    record_camera_health(
        session,
        camera_id=camera.id,
        health={"state": "up", "last_frame_at": frame_at, "frames_read": 100, "worker_id": "w1"},
    )
    record_camera_health(session, camera_id=camera.id, health={"state": "down", "last_error": "timeout"})
    session.commit()
    session.expire_all()
    row = session.get(CameraHealth, camera.id)
    assert row.state is CameraState.DOWN
    assert (row.frames_read, row.frames_dropped, row.reconnects) == (100, 0, 0)
    assert row.last_frame_at == frame_at
    assert row.last_error == "timeout"
    with pytest.raises(InvalidInputError, match="camera id 999"):
        record_camera_health(session, camera_id=999, health={"colour": "red"})
    with pytest.raises(NotFoundError, match="camera id 999"):
        record_camera_health(session, camera_id=999, health={"state": "up"})
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        record_camera_health(session, camera_id=camera.id, health={"last_frame_at": datetime(2025, 1, 1)})


def test_worker_heartbeat_restart_resets_started_at(session):
    t0 = datetime(2025, 8, 1, 10, 0, tzinfo=UTC)
    beat = {"worker_id": "fire-1", "pipeline": "fire", "hostname": "h1"}
    first = record_worker_heartbeat(session, **beat, pid=10, status="starting", at=t0)
    record_worker_heartbeat(session, **beat, pid=10, at=t0 + timedelta(seconds=30))
    assert (first.started_at, first.last_seen_at, first.status) == (
        t0,
        t0 + timedelta(seconds=30),
        WorkerStatus.RUNNING,
    )
    record_worker_heartbeat(session, **beat, pid=11, at=t0 + timedelta(minutes=5))
    session.commit()
    session.expire_all()
    assert first.started_at == t0 + timedelta(minutes=5)
    assert first.pid == 11
    with pytest.raises(InvalidInputError, match="pid"):
        record_worker_heartbeat(session, **beat, pid=0)
    with pytest.raises(InvalidInputError, match="naive"):
        record_worker_heartbeat(session, **beat, pid=11, at=datetime(2025, 1, 1))
