"""Cameras (read: any role, write: admin) and their stream health (reported by workers, read by anyone).

Routes commit what the services flushed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vigie.api.deps import AdminRole, AnyRole, IdPath, SessionDep, WorkerRole
from vigie.api.routes_ops import DEFAULT_STALE_AFTER, camera_is_up
from vigie.services import cameras
from vigie.services.schemas import CameraCreate, CameraHealthIn, CameraRead, CameraUpdate
from vigie.store.models import Camera, CameraHealth, CameraState

router = APIRouter(tags=["cameras"])


@router.get("/sites/{site_id}/cameras", summary="List the cameras of a site")
def list_site_cameras(site_id: IdPath, session: SessionDep, _: AnyRole) -> list[CameraRead]:
    return [CameraRead.model_validate(row) for row in cameras.list_cameras(session, site_id=site_id)]


@router.post(
    "/sites/{site_id}/cameras", status_code=status.HTTP_201_CREATED, summary="Add a camera to a site"
)
def create_camera(site_id: IdPath, body: CameraCreate, session: SessionDep, _: AdminRole) -> CameraRead:
    camera = cameras.create_camera(session, site_id=site_id, data=body)
    session.commit()
    return CameraRead.model_validate(camera)


@router.get("/cameras/{camera_id}", summary="Read a camera")
def get_camera(camera_id: IdPath, session: SessionDep, _: AnyRole) -> CameraRead:
    return CameraRead.model_validate(cameras.get_camera(session, camera_id=camera_id))


@router.patch("/cameras/{camera_id}", summary="Update a camera (only the fields sent)")
def update_camera(camera_id: IdPath, body: CameraUpdate, session: SessionDep, _: AdminRole) -> CameraRead:
    camera = cameras.update_camera(session, camera_id=camera_id, data=body)
    session.commit()
    return CameraRead.model_validate(camera)


@router.delete(
    "/cameras/{camera_id}", status_code=status.HTTP_204_NO_CONTENT, summary="Delete a camera and its data"
)
def delete_camera(camera_id: IdPath, session: SessionDep, _: AdminRole) -> Response:
    cameras.delete_camera(session, camera_id=camera_id)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- health -------------------------------------------------------------------------------------------


class CameraHealthRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    camera_id: int
    state: CameraState
    last_frame_at: datetime | None
    last_error: str | None
    reconnects: int
    frames_read: int
    frames_dropped: int
    worker_id: str | None
    updated_at: datetime
    up: bool = Field(
        description=f"Frames flowing and reported within {int(DEFAULT_STALE_AFTER.total_seconds())} s"
    )


def _health_read(row: CameraHealth, now: datetime) -> CameraHealthRead:
    return CameraHealthRead.model_validate(
        {
            **{field: getattr(row, field) for field in CameraHealthRead.model_fields if field != "up"},
            "up": camera_is_up(row.state, row.updated_at, now=now),
        }
    )


@router.put("/cameras/{camera_id}/health", summary="Report a camera's stream health (workers)")
def report_camera_health(
    camera_id: IdPath, body: CameraHealthIn, session: SessionDep, _: WorkerRole
) -> CameraHealthRead:
    row = cameras.record_camera_health(session, camera_id=camera_id, health=body)
    session.commit()
    return _health_read(row, datetime.now(UTC))


@router.get("/health/cameras", summary="Latest stream health of every camera that reported")
def list_camera_health(session: SessionDep, _: AnyRole) -> list[CameraHealthRead]:
    now = datetime.now(UTC)
    rows = session.scalars(select(CameraHealth).join(Camera).order_by(Camera.site_id, Camera.slug))
    return [_health_read(row, now) for row in rows]
