"""Operations endpoints without authentication: `/health` for load balancers, `/metrics` for Prometheus.

Per-camera gauges are computed from the `camera_health` table at scrape time, so the API reports every
camera whatever worker process reads it, and a worker that died shows up as a stale (down) camera.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from vigie import __version__
from vigie.observability import REGISTRY
from vigie.store.db import alembic_config
from vigie.store.models import Camera, CameraHealth, CameraState, Site

logger = logging.getLogger(__name__)

router = APIRouter(tags=["operations"])

# States in which frames are flowing; DEGRADED still delivers frames (late, dropped, poor quality).
STREAMING_STATES = frozenset({CameraState.UP, CameraState.DEGRADED})
# A report older than this means its worker stopped reporting: the camera counts as down.
DEFAULT_STALE_AFTER = timedelta(minutes=2)


def camera_is_up(
    state: CameraState | None,
    reported_at: datetime | None,
    *,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
) -> bool:
    """True if the last report says frames flow and is recent enough to trust (its worker is alive)."""
    return state in STREAMING_STATES and reported_at is not None and now - reported_at <= stale_after


# --- /health ------------------------------------------------------------------------------------------


class DatabaseHealth(BaseModel):
    reachable: bool
    backend: str = Field(description="sqlite or postgresql")
    revision: str | None = Field(None, description="Alembic revision the database is at")
    head: str | None = Field(None, description="Latest Alembic revision this version ships")
    error: str | None = None


class HealthRead(BaseModel):
    status: str = Field(description="ok, degraded (schema not at head) or unavailable (database down)")
    version: str
    database: DatabaseHealth


def migrations_head(url: str) -> str | None:
    """The head revision of the packaged migrations (None if the package ships several heads)."""
    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def check_database(engine: Engine, head: str | None) -> DatabaseHealth:
    backend = engine.dialect.name
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            revision = MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        # The first line is enough: the rest repeats the SQL and a link to SQLAlchemy's docs.
        reason = str(exc.orig if getattr(exc, "orig", None) is not None else exc).splitlines()[0]
        logger.warning("health check: database unreachable: %s", reason)
        # /health is public: the driver's message (host, user, database names) stays in the log.
        return DatabaseHealth(
            reachable=False, backend=backend, head=head, error=f"{backend} database unreachable (see the log)"
        )
    return DatabaseHealth(reachable=True, backend=backend, revision=revision, head=head)


@router.get(
    "/health",
    summary="Service and database health",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "The database is unreachable"}},
)
def health(request: Request) -> JSONResponse:
    database = check_database(request.app.state.engine, request.app.state.migrations_head)
    if not database.reachable:
        status, code = "unavailable", 503
    elif database.revision is None or database.revision != database.head:
        status, code = "degraded", 200
    else:
        status, code = "ok", 200
    body = HealthRead(status=status, version=__version__, database=database)
    return JSONResponse(body.model_dump(mode="json"), status_code=code)


# --- /metrics -----------------------------------------------------------------------------------------


class CameraHealthCollector(Collector):
    """`vigie_camera_up` and `vigie_camera_last_frame_age_seconds` per camera, read from `camera_health`."""

    def __init__(self, factory: sessionmaker[Session], *, stale_after: timedelta = DEFAULT_STALE_AFTER):
        self._factory = factory
        self._stale_after = stale_after

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["camera_id", "camera", "site"]
        return (
            GaugeMetricFamily(
                "vigie_camera_up",
                "1 if the camera's worker reported frames flowing within the staleness limit, else 0",
                labels=labels,
            ),
            GaugeMetricFamily(
                "vigie_camera_last_frame_age_seconds",
                "Seconds since the last frame read from the camera (absent if none was ever read)",
                labels=labels,
            ),
            GaugeMetricFamily(
                "vigie_camera_health_scrape_error",
                "1 if the camera health table could not be read at this scrape",
            ),
        )

    def collect(self) -> Iterator[Metric]:
        up, age, scrape_error = self._families()
        now = datetime.now(UTC)
        query = (
            select(
                Camera.id,
                Camera.slug,
                Site.slug,
                CameraHealth.state,
                CameraHealth.last_frame_at,
                CameraHealth.updated_at,
            )
            .join(Camera, Camera.id == CameraHealth.camera_id)
            .join(Site, Site.id == Camera.site_id)
            .order_by(Camera.id)
        )
        try:
            with self._factory() as session:
                rows = session.execute(query).all()
        except SQLAlchemyError as exc:
            logger.warning("metrics: cannot read camera_health: %s", str(exc).splitlines()[0])
            scrape_error.add_metric([], 1)
            yield scrape_error
            return
        for camera_id, camera_slug, site_slug, state, last_frame_at, updated_at in rows:
            labels = [str(camera_id), camera_slug, site_slug]
            is_up = camera_is_up(state, updated_at, now=now, stale_after=self._stale_after)
            up.add_metric(labels, 1 if is_up else 0)
            if last_frame_at is not None:
                age.add_metric(labels, max(0.0, (now - last_frame_at).total_seconds()))
        scrape_error.add_metric([], 0)
        yield from (up, age, scrape_error)


class _Exposition(Collector):
    """The process-wide REGISTRY followed by this app's own collectors, rendered as one exposition."""

    def __init__(self, *collectors: Collector):
        self._collectors = (REGISTRY, *collectors)

    def collect(self) -> Iterator[Metric]:
        for collector in self._collectors:
            yield from collector.collect()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    exposition = _Exposition(request.app.state.camera_health_collector)
    return Response(generate_latest(exposition), media_type=CONTENT_TYPE_LATEST)
