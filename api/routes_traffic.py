"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the traffic pipeline.

Exports are for the `planner` role (admin passes). Filters are validated before the response starts, so a
bad filter is a 4xx with a message; the rows are then streamed from a session of their own, since the
request's session may be closed before a long body has been sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, StreamingResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker

from vigie.api.deps import SessionDep, require_roles
from vigie.services import traffic_exports, traffic_flows
from vigie.services.tokens import Principal, Role
from vigie.services.traffic_exports import MEDIA_TYPES, CountQuery, ExportFormat
from vigie.services.traffic_flows import FLOW_MEDIA_TYPES, FlowFormat, FlowQuery

router = APIRouter(prefix="/traffic", tags=["traffic"])
pages = APIRouter(include_in_schema=False)

PlannerRole = Annotated[Principal, require_roles(Role.PLANNER)]
TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")

FromQuery = Annotated[
    str | None,
    Query(
        alias="from",
        description="Start: a date (its local midnight at the site) or an ISO datetime "
        "(local wall time at the site unless it carries an offset). Inclusive.",
        examples=["2026-11-27"],
    ),
]
ToQuery = Annotated[
    str | None,
    Query(
        description="End: a date (that whole local day is included) or an ISO datetime (exclusive).",
        examples=["2026-11-27"],
    ),
]
ClassQuery = Annotated[
    list[str] | None,
    Query(
        alias="class",
        description="Classes to export (repeat or comma-separate): car, heavy, bus, motorcycle, bicycle, "
        "pedestrian. Default: all.",
    ),
]


def _stream(factory: sessionmaker[Session], query: CountQuery, fmt: ExportFormat) -> Iterator[str]:
    with factory() as session:
        yield from traffic_exports.render_counts(session, query, fmt)


@router.get(
    "/counts",
    summary="Export counts (long CSV, wide CSV or JSON), filtered and optionally re-binned",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_counts(
    request: Request,
    session: SessionDep,
    _: PlannerRole,
    site: Annotated[str, Query(description="Site slug.")],
    from_: FromQuery = None,
    to: ToQuery = None,
    class_: ClassQuery = None,
    line: Annotated[list[str] | None, Query(description="Counting lines (repeat or comma-separate).")] = None,
    camera: Annotated[str | None, Query(description="Camera slug within the site.")] = None,
    bin: Annotated[
        str | None,
        Query(description="Export bin: 15, 30, 60 (minutes), 1h or day; a multiple of the stored bins."),
    ] = None,
    format: Annotated[ExportFormat, Query(description="csv (long), wide (one column per class), json.")] = (
        ExportFormat.CSV
    ),
) -> StreamingResponse:
    query = traffic_exports.build_count_query(
        session,
        site=site,
        start=from_,
        end=to,
        classes=class_,
        lines=line,
        camera=camera,
        bin_minutes=bin,
    )
    session.close()  # validation is done; the body is read by a session of its own
    filename = traffic_exports.export_filename(query, format)
    return StreamingResponse(
        _stream(request.app.state.sessionmaker, query, format),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _stream_flows(
    factory: sessionmaker[Session], query: FlowQuery, fmt: FlowFormat, kind: str
) -> Iterator[str]:
    render = traffic_flows.render_zones if kind == "zones" else traffic_flows.render_od
    with factory() as session:
        yield from render(session, query, fmt)


def _flow_response(
    request: Request, session: Session, kind: str, fmt: FlowFormat, **filters: Any
) -> StreamingResponse:
    query = traffic_flows.build_flow_query(session, **filters)
    session.close()  # validation is done; the body is read by a session of its own
    filename = traffic_flows.flow_filename(kind, query, fmt)
    return StreamingResponse(
        _stream_flows(request.app.state.sessionmaker, query, fmt, kind),
        media_type=FLOW_MEDIA_TYPES[fmt],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


CameraQuery = Annotated[str | None, Query(description="Camera slug within the site.")]
FlowFormatQuery = Annotated[FlowFormat, Query(description="csv or json.")]


@router.get(
    "/zones",
    summary="Export zone statistics per bin: entries, mean/max occupancy, mean/median dwell time per class",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_zones(
    request: Request,
    session: SessionDep,
    _: PlannerRole,
    site: Annotated[str, Query(description="Site slug.")],
    from_: FromQuery = None,
    to: ToQuery = None,
    class_: ClassQuery = None,
    camera: CameraQuery = None,
    format: FlowFormatQuery = FlowFormat.CSV,
) -> StreamingResponse:
    return _flow_response(
        request, session, "zones", format, site=site, start=from_, end=to, classes=class_, camera=camera
    )


@router.get(
    "/od",
    summary="Export origin–destination trips between counting lines per bin (JSON adds the range's matrix)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}, "application/json": {}}}},
)
def export_od(
    request: Request,
    session: SessionDep,
    _: PlannerRole,
    site: Annotated[str, Query(description="Site slug.")],
    from_: FromQuery = None,
    to: ToQuery = None,
    class_: ClassQuery = None,
    camera: CameraQuery = None,
    format: FlowFormatQuery = FlowFormat.JSON,
) -> StreamingResponse:
    return _flow_response(
        request, session, "od", format, site=site, start=from_, end=to, classes=class_, camera=camera
    )


@router.get(
    "/sites.geojson",
    summary="Counting sites (camera points) with totals per direction and class",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def counting_sites(
    session: SessionDep,
    _: PlannerRole,
    site: Annotated[str | None, Query(description="Site slug; default: every site.")] = None,
    from_: FromQuery = None,
    to: ToQuery = None,
    class_: ClassQuery = None,
) -> JSONResponse:
    collection: dict[str, Any] = traffic_exports.counting_sites_geojson(
        session, site=site, start=from_, end=to, classes=class_
    )
    name = f"counting-sites-{site}.geojson" if site else "counting-sites.geojson"
    return JSONResponse(
        collection,
        media_type="application/geo+json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@pages.get("/traffic/counts", response_class=HTMLResponse)
def counts_page(request: Request) -> HTMLResponse:
    """The counts chart page. It holds no data: its script calls the API with the token the user gives."""
    return TEMPLATES.TemplateResponse(
        request, "traffic/counts.html", {"classes": traffic_exports.TRAFFIC_CLASSES}
    )
