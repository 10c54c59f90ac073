"""Cameras, their PTZ presets, and the health reports of cameras and workers.

Keyword-only functions over a session; they flush, the caller commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from shapely.geometry import Point
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.schemas import (
    CameraCreate,
    CameraHealthIn,
    CameraPoseIn,
    CameraUpdate,
    WorkerHeartbeatIn,
)
from vigie.services.sites import get_site
from vigie.store.models import Camera, CameraHealth, CameraPose, Site, WorkerHealth, WorkerStatus
from vigie.store.types import ensure_utc, utcnow

_CAMERA_FIELDS = (
    "slug",
    "name",
    "role",
    "source_uri",
    "elevation_m",
    "heading_deg",
    "hfov_deg",
    "vfov_deg",
    "image_width",
    "image_height",
    "calibration_version",
    "enabled",
)
# Fields that may be cleared with an explicit null in an update (the others are required on a camera).
_NULLABLE_FIELDS = frozenset(_CAMERA_FIELDS) - {"slug", "name", "role", "enabled"}


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        raise ConflictError(f"{what} conflicts with stored data: {exc.orig}") from exc


def _ensure_slug_free(session: Session, site_id: int, slug: str, *, except_id: int | None = None) -> None:
    existing = session.scalar(select(Camera.id).where(Camera.site_id == site_id, Camera.slug == slug))
    if existing is not None and existing != except_id:
        raise ConflictError(f"site id {site_id} already has a camera with slug {slug!r} (id {existing})")


def _sync_poses(camera: Camera, poses: list[CameraPoseIn]) -> None:
    """Make the camera's presets equal to `poses`, matched by name so that surviving presets keep their id."""
    wanted = {pose.name: pose for pose in poses}
    for existing in list(camera.poses):
        if existing.name not in wanted:
            camera.poses.remove(existing)
    current = {pose.name: pose for pose in camera.poses}
    for name, pose in wanted.items():
        row = current.get(name)
        if row is None:
            row = CameraPose(name=name)
            camera.poses.append(row)
        row.heading_deg = pose.heading_deg
        row.tilt_deg = pose.tilt_deg
        row.hfov_deg = pose.hfov_deg
        row.calibration_version = pose.calibration_version


def create_camera(session: Session, *, site_id: int, data: CameraCreate) -> Camera:
    site = get_site(session, site_id=site_id)
    _ensure_slug_free(session, site.id, data.slug)
    camera = Camera(site=site, **{field: getattr(data, field) for field in _CAMERA_FIELDS})
    if data.longitude is not None:
        camera.location = Point(data.longitude, data.latitude)
    _sync_poses(camera, data.poses)
    session.add(camera)
    _flush(session, f"camera {data.slug!r} of site {site.slug!r}")
    return camera


def get_camera(session: Session, *, camera_id: int) -> Camera:
    camera = session.get(Camera, camera_id)
    if camera is None:
        raise NotFoundError(f"camera id {camera_id} does not exist")
    return camera


def get_camera_by_ref(session: Session, *, site_slug: str, camera_slug: str) -> Camera:
    """The camera `camera_slug` of site `site_slug` (the reference used in config files and URLs)."""
    camera = session.scalar(
        select(Camera).join(Site).where(Site.slug == site_slug, Camera.slug == camera_slug)
    )
    if camera is None:
        get_site(session, slug=site_slug)  # says which of the two is missing
        raise NotFoundError(f"site {site_slug!r} has no camera {camera_slug!r}")
    return camera


def list_cameras(session: Session, *, site_id: int | None = None) -> list[Camera]:
    """All cameras, or those of `site_id` (NotFoundError if that site does not exist)."""
    query = select(Camera).order_by(Camera.site_id, Camera.slug)
    if site_id is not None:
        get_site(session, site_id=site_id)
        query = query.where(Camera.site_id == site_id)
    return list(session.scalars(query))


def update_camera(session: Session, *, camera_id: int, data: CameraUpdate) -> Camera:
    """Apply the fields set in `data`; explicit nulls clear optional fields (location, heading...)."""
    camera = get_camera(session, camera_id=camera_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("slug") is not None and changes["slug"] != camera.slug:
        _ensure_slug_free(session, camera.site_id, changes["slug"], except_id=camera.id)
    for field in _CAMERA_FIELDS:
        if field not in changes:
            continue
        value = getattr(data, field)
        if value is None and field not in _NULLABLE_FIELDS:
            raise InvalidInputError(f"camera field {field!r} cannot be null")
        setattr(camera, field, value)
    if "longitude" in changes or "latitude" in changes:
        camera.location = None if data.longitude is None else Point(data.longitude, data.latitude)
    if data.poses is not None:
        _sync_poses(camera, data.poses)
    _flush(session, f"camera {camera.slug!r}")
    return camera


def delete_camera(session: Session, *, camera_id: int) -> None:
    """Delete a camera with its presets, health, detections, counts and plate reads."""
    session.delete(get_camera(session, camera_id=camera_id))
    session.flush()


# --- health -------------------------------------------------------------------------------------------


def _validate(schema: type[Any], values: Mapping[str, Any] | Any, what: str) -> Any:
    if isinstance(values, schema):
        return values
    try:
        return schema.model_validate(values)
    except ValidationError as exc:
        raise InvalidInputError(f"{what}: {exc}") from exc


def record_camera_health(
    session: Session, *, camera_id: int, health: Mapping[str, Any] | CameraHealthIn
) -> CameraHealth:
    """Store a worker's report on a camera stream (`CameraHealthIn` keys; omitted keys are kept)."""
    report = _validate(CameraHealthIn, health, f"health of camera id {camera_id}")
    get_camera(session, camera_id=camera_id)
    row = session.get(CameraHealth, camera_id)
    if row is None:
        row = CameraHealth(camera_id=camera_id, reconnects=0, frames_read=0, frames_dropped=0)
        session.add(row)
    for field, value in report.model_dump(exclude_unset=True).items():
        setattr(row, field, value)
    row.updated_at = utcnow()
    session.flush()
    return row


def record_worker_heartbeat(
    session: Session,
    *,
    worker_id: str,
    pipeline: str,
    hostname: str,
    pid: int,
    status: WorkerStatus | str = WorkerStatus.RUNNING,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> WorkerHealth:
    """Insert or refresh a worker's heartbeat; a new pid (the process restarted) resets `started_at`."""
    beat = _validate(
        WorkerHeartbeatIn,
        {
            "worker_id": worker_id,
            "pipeline": pipeline,
            "hostname": hostname,
            "pid": pid,
            "status": status,
            "details": details,
        },
        f"heartbeat of worker {worker_id!r}",
    )
    now = utcnow() if at is None else ensure_utc(at, what="heartbeat time")
    row = session.get(WorkerHealth, beat.worker_id)
    if row is None:
        row = WorkerHealth(worker_id=beat.worker_id, started_at=now)
        session.add(row)
    elif row.pid != beat.pid or row.hostname != beat.hostname:
        row.started_at = now
    row.pipeline = beat.pipeline
    row.hostname = beat.hostname
    row.pid = beat.pid
    row.status = beat.status
    row.details = beat.details
    row.last_seen_at = now
    session.flush()
    return row
