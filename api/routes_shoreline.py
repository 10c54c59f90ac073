"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the shoreline pipeline.

Stations, water levels, shorelines and reports need the `coastal` role. Citizens upload photos without a
token (`POST /shoreline/stations/{slug}/photos`, from the page `/shoreline/upload/{slug}`): uploads are
limited in size and rate per client address, and refused with a stable `error` code the page translates.
The rate limit is counted in the database (shared by every worker process) on the real client address:
X-Forwarded-For is believed only from `settings.trusted_proxies` (services/rate_limits).
Accepted photos are processed after the response (a background task) unless `?process=false`, in which
case `vigie shoreline-worker` picks them up.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, Request, Response, UploadFile, status
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine, select

from vigie.api.deps import IdPath, SessionDep, SettingsDep, require_roles
from vigie.errors import InvalidInputError, NotFoundError
from vigie.services import rate_limits, shoreline_exports, shoreline_photos, shoreline_stations
from vigie.services.schemas import DateTimeIn
from vigie.services.shoreline_schemas import (
    PhotoRead,
    StationCreate,
    StationRead,
    StationUpdate,
    WaterLevelsImported,
)
from vigie.services.tokens import Principal, Role
from vigie.store.models import PhotoStatus, ShorelinePhoto

router = APIRouter(tags=["shoreline"])
pages = APIRouter(include_in_schema=False)

TEMPLATES = Jinja2Templates(directory=Path(__file__).parent / "templates")
CoastalRole = Annotated[Principal, require_roles(Role.COASTAL)]

MAX_UPLOAD_BYTES = shoreline_photos.MAX_PHOTO_BYTES
UPLOADS_PER_WINDOW = 20
UPLOAD_WINDOW_S = 600.0
UPLOAD_SCOPE = "shoreline-upload"
# HTTP status of each intake refusal (the body's `error` is the code).
REJECTION_STATUS = {"too_large": 413, "not_an_image": 415, "duplicate": 409}


def upload_rate_limiter(
    limit: int = UPLOADS_PER_WINDOW, window_s: float = UPLOAD_WINDOW_S
) -> rate_limits.RateLimiter:
    """At most `limit` upload attempts per client address in a sliding `window_s`, across processes."""
    return rate_limits.RateLimiter(scope=UPLOAD_SCOPE, limit=limit, window_s=window_s)


def _limiter(request: Request) -> rate_limits.RateLimiter:
    limiter = getattr(request.app.state, "shoreline_upload_limiter", None)
    if limiter is None:
        limiter = request.app.state.shoreline_upload_limiter = upload_rate_limiter()
    return limiter


def _client_key(request: Request, settings: SettingsDep) -> str:
    """The HMAC of the real client address (behind a trusted proxy, from X-Forwarded-For)."""
    address = rate_limits.client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        settings.trusted_proxies,
    )
    return rate_limits.address_key(address, settings.secret_key)


def _media(settings: SettingsDep) -> Path:
    return Path(settings.data_dir)


def _refusal(code: str, detail: str, status_code: int = 422) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail}, status_code=status_code)


# --- stations -----------------------------------------------------------------------------------------


@router.post("/shoreline/stations", response_model=StationRead, status_code=status.HTTP_201_CREATED)
def create_station(data: StationCreate, session: SessionDep, principal: CoastalRole) -> StationRead:
    """GCPs (world x, y, z in `epsg` + pixel u, v on the reference image), transects, camera guess, plan."""
    station = shoreline_stations.create_station(session, data=data)
    session.commit()
    return shoreline_stations.station_read(session, station)


@router.get("/shoreline/stations", response_model=list[StationRead])
def list_stations(session: SessionDep, principal: CoastalRole) -> list[StationRead]:
    return [shoreline_stations.station_read(session, s) for s in shoreline_stations.list_stations(session)]


@router.get("/shoreline/stations/{slug}", response_model=StationRead)
def get_station(slug: str, session: SessionDep, principal: CoastalRole) -> StationRead:
    return shoreline_stations.station_read(session, shoreline_stations.get_station(session, slug=slug))


@router.patch("/shoreline/stations/{slug}", response_model=StationRead)
def update_station(
    slug: str, data: StationUpdate, session: SessionDep, principal: CoastalRole
) -> StationRead:
    station = shoreline_stations.update_station(session, slug=slug, data=data)
    session.commit()
    return shoreline_stations.station_read(session, station)


@router.delete("/shoreline/stations/{slug}", status_code=status.HTTP_204_NO_CONTENT)
def delete_station(slug: str, session: SessionDep, principal: CoastalRole) -> Response:
    shoreline_stations.delete_station(session, slug=slug)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/shoreline/stations/{slug}/reference", response_model=StationRead)
async def put_reference_image(
    slug: str,
    session: SessionDep,
    settings: SettingsDep,
    principal: CoastalRole,
    image: Annotated[UploadFile, File(description="JPEG/PNG")],
) -> StationRead:
    """The reference photo whose pixels the GCPs' u, v refer to."""
    data = await image.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInputError(f"reference image larger than {MAX_UPLOAD_BYTES // 2**20} MiB")
    station = shoreline_stations.set_reference_image(
        session, slug=slug, data=data, media_dir=_media(settings)
    )
    session.commit()
    return shoreline_stations.station_read(session, station)


@router.post("/shoreline/stations/{slug}/water-levels", response_model=WaterLevelsImported)
async def import_water_levels(
    slug: str,
    session: SessionDep,
    principal: CoastalRole,
    file: Annotated[UploadFile, File(description="CSV rows time,level_m")],
    source: Annotated[str, Form(max_length=100)] = "upload",
) -> WaterLevelsImported:
    from vigie.pipelines.shoreline.water_level import parse_water_level_csv

    data = await file.read(5 * 2**20 + 1)
    if len(data) > 5 * 2**20:
        raise InvalidInputError("water levels CSV larger than 5 MiB; split it")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"water levels file {file.filename}: expected UTF-8 text") from exc
    name = file.filename or "water levels CSV"
    samples = parse_water_level_csv(text, name=name)  # errors name the line
    count = shoreline_photos.import_water_levels(session, slug=slug, samples=samples, source=source)
    session.commit()
    times = [s.at for s in samples]
    return WaterLevelsImported(station=slug, imported=count, first=min(times), last=max(times))


# --- photos -------------------------------------------------------------------------------------------


def _station_cache(request: Request, media_dir: Path) -> shoreline_photos.StationCache:
    """One cache per app: a station's reference features are prepared once, not on every upload."""
    cache = getattr(request.app.state, "shoreline_station_cache", None)
    if cache is None:
        cache = request.app.state.shoreline_station_cache = shoreline_photos.StationCache(media_dir=media_dir)
    return cache


def _process_in_background(engine: Engine, cache: shoreline_photos.StationCache) -> None:
    from vigie.pipelines.shoreline.worker import process_pending

    process_pending(engine=engine, cache=cache)


def _photo_read(photo: ShorelinePhoto, slug: str) -> PhotoRead:
    return PhotoRead(
        id=photo.id,
        station=slug,
        status=photo.status,
        taken_at=photo.taken_at,
        uploaded_at=photo.uploaded_at,
        quality_score=(photo.quality or {}).get("score"),
        water_level_m=photo.water_level_m,
        reprojection_rms_px=photo.reprojection_rms_px,
        reason=photo.reject_reason,
        reason_code=None
        if photo.status != PhotoStatus.FLAGGED
        else (photo.details or {}).get("reason_code") or shoreline_photos.flag_code(photo.reject_reason),
    )


@router.post(
    "/shoreline/stations/{slug}/photos",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=PhotoRead,
    responses={
        409: {"description": "duplicate"},
        413: {"description": "too large"},
        415: {"description": "not an image"},
        422: {"description": "unusable photo"},
        429: {"description": "too many uploads"},
    },
)
def upload_photo(
    slug: str,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    background: BackgroundTasks,
    photo: Annotated[UploadFile, File(description="A JPEG or PNG photo taken from the station's cradle")],
    taken_at: Annotated[
        DateTimeIn | None, Form(description="Capture time from the device, if no EXIF")
    ] = None,
    process: Annotated[bool, Query(description="Process after the response (else: the worker)")] = True,
) -> Response | PhotoRead:
    """Public citizen upload: no token; size- and rate-limited (refused uploads count: it limits attempts)."""
    if not _limiter(request).allow(session, key=_client_key(request, settings)):  # commits its hit
        return _refusal("rate_limited", "too many photos from this address; try again in a few minutes", 429)
    # A plain `def` route: reading, decoding and the database run in the threadpool, not the event loop.
    data = photo.file.read(MAX_UPLOAD_BYTES + 1)
    try:
        row = shoreline_photos.ingest_photo(
            session,
            slug=slug,
            data=data,
            media_dir=_media(settings),
            filename=photo.filename,
            client_time=taken_at,
            max_bytes=MAX_UPLOAD_BYTES,
        )
    except shoreline_photos.PhotoRejected as exc:
        return _refusal(exc.code, str(exc), REJECTION_STATUS.get(exc.code, 422))
    except shoreline_photos.DuplicatePhoto as exc:
        return _refusal("duplicate", str(exc), 409)
    session.commit()
    if process:
        cache = _station_cache(request, _media(settings))
        background.add_task(_process_in_background, request.app.state.engine, cache)
    return _photo_read(row, slug)


PUBLIC_FAILURE_REASON = "the photo could not be processed yet; the coastal team has been notified"


@router.get("/shoreline/photos/{photo_id}", response_model=PhotoRead)
def get_photo(photo_id: IdPath, session: SessionDep) -> PhotoRead:
    """Status of an uploaded photo (public: the uploader follows it; it holds no personal data)."""
    photo = session.get(ShorelinePhoto, photo_id)
    if photo is None:
        raise NotFoundError(f"shoreline photo {photo_id} does not exist")
    station = shoreline_stations.get_station_by_id(session, station_id=photo.station_id)
    read = _photo_read(photo, station.slug)
    if read.status == PhotoStatus.FAILED:
        # Internal errors can name files and hosts: anonymous uploaders get a plain message, the coastal
        # team (authenticated list) the stored one.
        read = read.model_copy(update={"reason": PUBLIC_FAILURE_REASON})
    return read


@router.get("/shoreline/stations/{slug}/photos", response_model=list[PhotoRead])
def list_photos(
    slug: str, session: SessionDep, principal: CoastalRole, limit: Annotated[int, Query(ge=1, le=1000)] = 200
) -> list[PhotoRead]:
    station = shoreline_stations.get_station(session, slug=slug)
    rows = session.scalars(
        select(ShorelinePhoto)
        .where(ShorelinePhoto.station_id == station.id)
        .order_by(ShorelinePhoto.uploaded_at.desc())
        .limit(limit)
    )
    return [_photo_read(p, slug) for p in rows]


# --- shorelines and reports ---------------------------------------------------------------------------

CrsQuery = Annotated[str, Query(description="EPSG code of the output: 4326 (lon/lat), 2154, ...")]


@router.get(
    "/shoreline/stations/{slug}/shorelines.geojson",
    response_class=Response,
    responses={200: {"content": {"application/geo+json": {}}}},
)
def shorelines_geojson(
    slug: str, session: SessionDep, principal: CoastalRole, crs: CrsQuery = "4326"
) -> JSONResponse:
    body = shoreline_exports.shorelines_geojson(session, slug=slug, epsg=shoreline_exports.parse_epsg(crs))
    return JSONResponse(body, media_type="application/geo+json")


@router.get(
    "/shoreline/stations/{slug}/shorelines.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def shorelines_csv(
    slug: str, session: SessionDep, principal: CoastalRole, crs: CrsQuery = "4326"
) -> Response:
    text = shoreline_exports.shorelines_csv(session, slug=slug, epsg=shoreline_exports.parse_epsg(crs))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{slug}-shorelines.csv"'},
    )


@router.get("/shoreline/stations/{slug}/report.html", response_class=HTMLResponse)
def report_html(
    slug: str, session: SessionDep, settings: SettingsDep, principal: CoastalRole
) -> HTMLResponse:
    from vigie.pipelines.shoreline.report import render_html

    return HTMLResponse(
        render_html(shoreline_exports.report_data(session, slug=slug, media_dir=_media(settings)))
    )


@router.get(
    "/shoreline/stations/{slug}/report.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def report_pdf(slug: str, session: SessionDep, settings: SettingsDep, principal: CoastalRole) -> Response:
    from vigie.pipelines.shoreline.report import write_pdf

    data = shoreline_exports.report_data(session, slug=slug, media_dir=_media(settings))
    with tempfile.TemporaryFile() as buffer:
        write_pdf(data, buffer)
        buffer.seek(0)
        body = buffer.read()
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{slug}-report.pdf"'},
    )


# --- pages --------------------------------------------------------------------------------------------


@pages.get("/shoreline/upload/{slug}", response_class=HTMLResponse)
def upload_page(slug: str, request: Request, session: SessionDep) -> HTMLResponse:
    """The citizens' mobile page: take a photo from the cradle and send it."""
    station = shoreline_stations.get_station(session, slug=slug)
    return TEMPLATES.TemplateResponse(
        request,
        "shoreline/upload.html",
        {
            "station": station,
            "upload_url": f"/api/v1/shoreline/stations/{station.slug}/photos",
            "max_mb": MAX_UPLOAD_BYTES // 2**20,
        },
    )
