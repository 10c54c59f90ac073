"""The FastAPI application factory. Nothing happens at import: `create_app()` builds, the lifespan connects.

Run with `uvicorn --factory vigie.api.app:create_app`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from vigie import __version__
from vigie.api import (
    pages_fire,
    routes_cameras,
    routes_fire,
    routes_lapi,
    routes_ops,
    routes_shoreline,
    routes_sites,
    routes_tokens,
    routes_traffic,
)
from vigie.api.auth import ensure_bootstrap_admin
from vigie.api.errors import ERROR_RESPONSES, install_error_handlers
from vigie.settings import Settings, load_settings
from vigie.store.db import make_engine, make_sessionmaker, upgrade

logger = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
STATIC_DIR = Path(__file__).parent / "static"

OPENAPI_TAGS = [
    {"name": "sites", "description": "Sites (a lookout network, a road section, a car park, a beach)."},
    {"name": "cameras", "description": "Cameras of a site, their geometry and stream health."},
    {"name": "tokens", "description": "API tokens and their roles (admin only)."},
    {"name": "operations", "description": "Health and Prometheus metrics, without authentication."},
    {"name": "fire", "description": "Wildfire watch: alerts, their life cycle, the live console."},
    {"name": "traffic", "description": "Traffic counts per line, direction, class and period; exports."},
    {"name": "lapi", "description": "Plate reads, car-park sessions, subscribers (GDPR-audited)."},
    {"name": "shoreline", "description": "Shoreline stations, citizen photo intake, shorelines, reports."},
]


DOCS_STATIC = "/static/api-docs"


def install_offline_docs(app: FastAPI) -> None:
    """/docs (Swagger UI) and /redoc with their scripts served by the app, so they work without internet
    (the assets ship in the `fastapi-offline` wheel)."""
    import fastapi_offline

    app.mount(
        DOCS_STATIC, StaticFiles(directory=Path(fastapi_offline.__file__).parent / "static"), "api-docs"
    )

    @app.get("/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Vigie — API",
            swagger_js_url=f"{DOCS_STATIC}/swagger-ui-bundle.js",
            swagger_css_url=f"{DOCS_STATIC}/swagger-ui.css",
            swagger_favicon_url=f"{DOCS_STATIC}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="Vigie — API",
            redoc_js_url=f"{DOCS_STATIC}/redoc.standalone.js",
            redoc_favicon_url=f"{DOCS_STATIC}/favicon.png",
            with_google_fonts=False,
        )


def create_app(
    settings: Settings | None = None, *, engine: Engine | None = None, migrate: bool = False
) -> FastAPI:
    """Build the API.

    settings: defaults to the environment (`VIGIE_*`); refused settings raise ConfigError here, before
        anything listens.
    engine: use this engine (tests, an embedding process) instead of one made from
        `settings.resolved_database_url`; it is not disposed at shutdown since the caller owns it.
    migrate: run Alembic migrations to head at start-up (convenient for the embedded SQLite database; keep
        it off where several processes start together and run `vigie db upgrade` once instead).
    """
    settings = settings if settings is not None else load_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = engine is None
        active = engine if engine is not None else make_engine(settings.resolved_database_url)
        url = active.url.render_as_string(hide_password=False)
        try:
            if migrate:
                upgrade(url)
            factory = make_sessionmaker(active)
            app.state.engine = active
            app.state.sessionmaker = factory
            app.state.migrations_head = routes_ops.migrations_head(url)
            app.state.camera_health_collector = routes_ops.CameraHealthCollector(factory)
            ensure_bootstrap_admin(settings, factory)
            yield
        finally:
            notifier = getattr(app.state, "fire_notifier", None)
            if notifier is not None:  # created on first ingested alert; flush pending webhooks
                notifier.close()
            if owned:
                active.dispose()

    app = FastAPI(
        title="Vigie",
        version=__version__,
        summary="Computer-vision analytics for local authorities.",
        openapi_tags=OPENAPI_TAGS,
        lifespan=lifespan,
        docs_url=None,  # served below from local files: FastAPI's default pages load them from a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_offline_docs(app)

    api = APIRouter(prefix=API_PREFIX, responses=ERROR_RESPONSES)
    api.include_router(routes_sites.router)
    api.include_router(routes_cameras.router)
    api.include_router(routes_tokens.router)
    for pipeline_routes in (routes_fire, routes_traffic, routes_lapi, routes_shoreline):
        api.include_router(pipeline_routes.router)
        app.include_router(pipeline_routes.pages)
    app.include_router(pages_fire.pages)
    app.include_router(api)
    app.include_router(routes_ops.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
