"""Shoreline stations: create, read, update, delete, and the bridge to the image geometry (`StationGeometry`).

Stored form (table `shoreline_stations`): `gcps` [{name, x, y, z, u, v}] in world metres of `epsg` with
their pixels on the reference image; `transects` [{x0, y0, x1, y1}] landward end first; `setup` {origin:
[x, y], camera: {x, y, z, azimuth_deg, tilt_deg, roll_deg, hfov_deg}, plan: {x_min, x_max, y_min, y_max,
resolution_m}, timezone}; `tide` harmonic constituents. The geometry code works in a local frame (world −
origin); `station_geometry` does that conversion. `calibration_version` is a digest of everything the
geometry depends on, recorded on every shoreline so that results of different set-ups are told apart.

Keyword-only functions over a session: they flush, callers commit. Replacing the reference image removes
the old file once the change is committed (and the new file if it is rolled back): see
`set_reference_image`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from shapely.geometry import Point
from sqlalchemy import event, select
from sqlalchemy.orm import Session, SessionTransaction

from vigie.calibration import crs as crs_mod
from vigie.calibration.camera_pose import DEFAULT_FIT, min_gcps
from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.shoreline_schemas import StationCreate, StationRead, StationUpdate
from vigie.services.sites import get_site
from vigie.store.models import ShorelineStation

UPLOAD_PAGE = "/shoreline/upload/{slug}"
# session.info keys of the reference files pending a commit or rollback (see set_reference_image).
_REFERENCES_KEY = "shoreline_reference_files"
_OBSOLETE_KEY = "shoreline_reference_obsolete"

log = logging.getLogger(__name__)


def get_station(session: Session, *, slug: str) -> ShorelineStation:
    """The station with `slug` (slugs are unique across sites for the public upload URL)."""
    station = session.scalar(select(ShorelineStation).where(ShorelineStation.slug == slug))
    if station is None:
        raise NotFoundError(f"shoreline station {slug!r} does not exist")
    return station


def get_station_by_id(session: Session, *, station_id: int) -> ShorelineStation:
    station = session.get(ShorelineStation, station_id)
    if station is None:
        raise NotFoundError(f"shoreline station id {station_id} does not exist")
    return station


def list_stations(session: Session) -> list[ShorelineStation]:
    return list(session.scalars(select(ShorelineStation).order_by(ShorelineStation.slug)))


def _check_geometry(
    epsg: int,
    gcps: list[dict[str, Any]],
    transects: list[dict[str, Any]],
    camera: dict[str, Any],
    location: tuple[float, float] | None,
) -> None:
    """Refuse coordinates that cannot be in `epsg` (wrong CRS) and too few GCPs seen on the reference."""
    crs_mod.require_projected(epsg)
    needed = min_gcps(DEFAULT_FIT)
    seen = [g for g in gcps if g.get("u") is not None]
    if len(seen) < needed:
        raise InvalidInputError(
            f"GCPs: {len(seen)} have pixel coordinates on the reference image; the camera "
            f"pose needs at least {needed}"
        )
    xy = np.array(
        [[g["x"], g["y"]] for g in gcps]
        + [[camera["x"], camera["y"]]]
        + [[t[k], t[k.replace("x", "y")]] for t in transects for k in ("x0", "x1")],
        dtype=float,
    )
    try:
        lon, lat = crs_mod.to_wgs84(xy[:, 0], xy[:, 1], epsg)
    except InvalidInputError as exc:
        raise InvalidInputError(f"station coordinates are not EPSG:{epsg} metres: {exc}") from exc
    if location is not None:
        # A CRS whose area holds the points can still be the wrong one (another zone): compare with the
        # station's own position.
        from vigie.pipelines.shoreline.station import check_station_crs

        check_station_crs(epsg, xy, location, what="station GCPs, camera and transects")
    del lon, lat


def _setup(
    data: StationCreate | StationUpdate, current: dict[str, Any] | None, timezone: str | None
) -> dict[str, Any]:
    setup = dict(current or {})
    if data.camera is not None:
        setup["camera"] = data.camera.model_dump()
        setup["origin"] = [data.camera.x, data.camera.y]  # CoastSnap: the local frame starts at the cradle
    if data.plan is not None:
        setup["plan"] = data.plan.model_dump()
    if timezone is not None:
        setup["timezone"] = timezone
    return setup


def calibration_digest(station: ShorelineStation, reference_sha256: str | None = None) -> str:
    """A short digest of the geometry inputs (CRS, GCPs, transects, set-up, reference image)."""
    payload = json.dumps(
        {
            "epsg": station.epsg,
            "gcps": station.gcps,
            "transects": station.transects,
            "setup": station.setup,
            "reference": reference_sha256 or station.reference_image_path,
        },
        sort_keys=True,
        default=str,
    )
    return "sl-" + hashlib.sha256(payload.encode()).hexdigest()[:16]


def create_station(session: Session, *, data: StationCreate) -> ShorelineStation:
    site = get_site(session, slug=data.site)
    if session.scalar(select(ShorelineStation.id).where(ShorelineStation.slug == data.slug)) is not None:
        raise ConflictError(f"a shoreline station with slug {data.slug!r} already exists")
    gcps = [g.model_dump() for g in data.gcps]
    transects = [t.model_dump() for t in data.transects]
    location = None if data.longitude is None else (data.longitude, data.latitude)
    _check_geometry(data.epsg, gcps, transects, data.camera.model_dump(), location)  # type: ignore[arg-type]
    station = ShorelineStation(
        site_id=site.id,
        slug=data.slug,
        name=data.name,
        epsg=data.epsg,
        gcps=gcps,
        transects=transects,
        location=None if location is None else Point(*location),
        setup=_setup(data, None, data.timezone or site.timezone),
        tide=None if data.tide is None else data.tide.model_dump(mode="json"),
    )
    station.calibration_version = calibration_digest(station)
    session.add(station)
    session.flush()
    return station


def update_station(session: Session, *, slug: str, data: StationUpdate) -> ShorelineStation:
    station = get_station(session, slug=slug)
    changes = data.model_dump(exclude_unset=True)
    gcps = [g.model_dump() for g in data.gcps] if data.gcps is not None else station.gcps
    transects = [t.model_dump() for t in data.transects] if data.transects is not None else station.transects
    setup = _setup(data, station.setup, None)
    if {"gcps", "transects", "camera"} & changes.keys():
        location = None if station.location is None else (station.location.x, station.location.y)
        _check_geometry(station.epsg, gcps, transects, setup["camera"], location)
    if data.name is not None:
        station.name = data.name
    station.gcps, station.transects, station.setup = gcps, transects, setup
    if "tide" in changes:
        station.tide = None if data.tide is None else data.tide.model_dump(mode="json")
    station.calibration_version = calibration_digest(station)
    session.flush()
    return station


def delete_station(session: Session, *, slug: str) -> None:
    session.delete(get_station(session, slug=slug))
    session.flush()


def set_reference_image(session: Session, *, slug: str, data: bytes, media_dir: Path) -> ShorelineStation:
    """Store the station's reference photo (the image whose pixels the GCP u, v refer to).

    The new file is written beside the old one. Once the session commits, the file the station no longer
    points to is deleted; if it rolls back instead, the new file is (the committed reference stays whole).
    """
    station = get_station(session, slug=slug)
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    if image is None:
        raise InvalidInputError(f"station {slug}: the reference image is not a readable JPEG or PNG")
    sha = hashlib.sha256(data).hexdigest()
    relative = Path("shoreline") / slug / f"reference-{sha[:16]}.jpg"
    target = media_dir / relative
    created = not target.exists()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    _track_reference_files(
        session, station, new_path=relative.as_posix(), created=created, media_dir=media_dir
    )
    station.reference_image_path = relative.as_posix()
    h, w = image.shape[:2]
    station.setup = {**(station.setup or {}), "reference_size": [w, h]}
    station.calibration_version = calibration_digest(station, sha)
    session.flush()
    return station


# --- reference files after commit or rollback ---------------------------------------------------------
# session.info[_REFERENCES_KEY]: {station id: (media_dir, path committed before, paths this transaction
# created)}. Files go only once the database says which one is in use, so a failed commit or a rollback
# never loses the reference the committed station points to.


def _track_reference_files(
    session: Session, station: ShorelineStation, *, new_path: str, created: bool, media_dir: Path
) -> None:
    tracked = session.info.setdefault(_REFERENCES_KEY, {})
    if station.id not in tracked:
        tracked[station.id] = (media_dir, station.reference_image_path, set())
    if created:
        tracked[station.id][2].add(new_path)
    if not event.contains(session, "before_commit", _find_obsolete_references):
        event.listen(session, "before_commit", _find_obsolete_references)
        event.listen(session, "after_commit", _delete_obsolete_references)
        event.listen(session, "after_transaction_end", _delete_rolled_back_references)


def _find_obsolete_references(session: Session) -> None:
    """Before the commit, while SQL can still run: the files the stations will no longer point to."""
    tracked = session.info.get(_REFERENCES_KEY)
    if not tracked or session.in_nested_transaction():  # a savepoint's release decides nothing yet
        return
    session.flush()
    rows = session.execute(
        select(ShorelineStation.id, ShorelineStation.reference_image_path).where(
            ShorelineStation.id.in_(list(tracked))
        )
    )
    current = {station_id: path for station_id, path in rows}
    session.info[_OBSOLETE_KEY] = [
        media_dir / path
        for station_id, (media_dir, before, created) in tracked.items()
        # current None: the station is deleted, none of its references is kept
        for path in {before, *created}
        if path is not None and path != current.get(station_id)
    ]


def _delete_obsolete_references(session: Session) -> None:
    if session.in_nested_transaction():
        return
    session.info.pop(_REFERENCES_KEY, None)
    for path in session.info.pop(_OBSOLETE_KEY, []):
        _remove(path)


def _delete_rolled_back_references(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without commit (after one, nothing is left): drop the new files."""
    if transaction.parent is not None:
        return
    session.info.pop(_OBSOLETE_KEY, None)
    for media_dir, before, created in session.info.pop(_REFERENCES_KEY, {}).values():
        for path in created - {before}:
            _remove(media_dir / path)


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:  # a leftover file is harmless; failing the committed request is not
        log.warning("could not delete the replaced shoreline reference %s: %s", path, exc)


def station_read(session: Session, station: ShorelineStation) -> StationRead:
    return StationRead(
        id=station.id,
        site=get_site(session, site_id=station.site_id).slug,
        slug=station.slug,
        name=station.name,
        epsg=station.epsg,
        longitude=station.longitude,
        latitude=station.latitude,
        gcps=station.gcps,
        transects=station.transects,
        setup=station.setup,
        tide=station.tide,
        has_reference_image=station.reference_image_path is not None,
        calibration_version=station.calibration_version,
        upload_url=UPLOAD_PAGE.format(slug=station.slug),
    )


# --- to and from the image geometry -------------------------------------------------------------------


def station_geometry(station: ShorelineStation, *, media_dir: Path) -> Any:
    """The `StationGeometry` S-geo's `process_photo` needs, in the local frame (world − origin)."""
    from vigie.calibration.rectification import PlanGrid
    from vigie.pipelines.shoreline.station import (
        ReferenceImage,
        StationGeometry,
        Transects,
        camera_from_mapping,
        read_image,
        read_mask,
    )

    setup = station.setup or {}
    if station.reference_image_path is None:
        raise InvalidInputError(f"station {station.slug} has no reference image; upload one first")
    if not station.transects:
        raise InvalidInputError(f"station {station.slug} has no transects; add some first")
    for key in ("origin", "camera", "plan"):
        if key not in setup:
            raise InvalidInputError(f"station {station.slug}: set-up lacks {key!r}")
    ox, oy = (float(v) for v in setup["origin"])
    image = read_image(media_dir / station.reference_image_path)
    h, w = image.shape[:2]
    xyz = np.array([[g["x"] - ox, g["y"] - oy, g["z"]] for g in station.gcps], dtype=float)
    uv = np.array(
        [[math.nan, math.nan] if g.get("u") is None else [g["u"], g["v"]] for g in station.gcps], dtype=float
    )
    mask = read_mask(media_dir / station.stable_mask_path, (w, h)) if station.stable_mask_path else None
    cam = dict(setup["camera"])
    cam["x"], cam["y"] = cam["x"] - ox, cam["y"] - oy
    plan = setup["plan"]
    t = station.transects
    return StationGeometry(
        name=station.slug,
        epsg=station.epsg,
        origin_xy=(ox, oy),
        gcp_names=tuple(g["name"] for g in station.gcps),
        gcp_xyz=xyz,
        references=(
            ReferenceImage(name=f"{station.slug}-reference", image=image, gcp_uv=uv, stable_mask=mask),
        ),
        transects=Transects.from_endpoints(
            np.array([[r["x0"] - ox, r["y0"] - oy] for r in t]),
            np.array([[r["x1"] - ox, r["y1"] - oy] for r in t]),
        ),
        camera_guess=camera_from_mapping(cam, width=w, height=h, where=f"station {station.slug}"),
        plan_grid=PlanGrid(
            plan["x_min"] - ox,
            plan["x_max"] - ox,
            plan["y_min"] - oy,
            plan["y_max"] - oy,
            plan["resolution_m"],
        ),
        location_lonlat=None if station.location is None else (station.location.x, station.location.y),
    )


def station_from_geometry(
    session: Session,
    *,
    geometry: Any,
    site_slug: str,
    slug: str,
    name: str,
    media_dir: Path,
    timezone: str | None = None,
) -> ShorelineStation:
    """Store a `StationGeometry` (e.g. `load_manly_station`) as a station: GCPs with the first reference's
    pixels, transects, camera guess, plan grid, reference image and stable mask."""
    ox, oy = geometry.origin_xy
    ref = geometry.references[0]
    gcps = []
    for n, (x, y, z), (u, v) in zip(geometry.gcp_names, geometry.gcp_xyz, ref.gcp_uv, strict=True):
        seen = bool(np.isfinite([u, v]).all())
        gcps.append(
            {
                "name": n,
                "x": float(x + ox),
                "y": float(y + oy),
                "z": float(z),
                "u": float(u) if seen else None,
                "v": float(v) if seen else None,
            }
        )
    tr = geometry.transects
    ends = tr.end
    transects = [
        {"x0": float(a[0] + ox), "y0": float(a[1] + oy), "x1": float(b[0] + ox), "y1": float(b[1] + oy)}
        for a, b in zip(tr.origin, ends, strict=True)
    ]
    cam = geometry.camera_guess
    g = geometry.plan_grid
    loc = geometry.location_lonlat
    data = StationCreate(
        site=site_slug,
        slug=slug,
        name=name,
        epsg=geometry.epsg,
        timezone=timezone,
        longitude=None if loc is None else loc[0],
        latitude=None if loc is None else loc[1],
        gcps=gcps,
        transects=transects,
        camera={
            "x": cam.x + ox,
            "y": cam.y + oy,
            "z": cam.z,
            "azimuth_deg": math.degrees(cam.azimuth_rad),
            "tilt_deg": math.degrees(cam.tilt_rad),
            "roll_deg": math.degrees(cam.roll_rad),
            "hfov_deg": cam.hfov_deg,
        },
        plan={
            "x_min": g.x_min + ox,
            "x_max": g.x_max + ox,
            "y_min": g.y_min + oy,
            "y_max": g.y_max + oy,
            "resolution_m": g.resolution_m,
        },
    )
    station = create_station(session, data=data)
    ok, encoded = cv2.imencode(".jpg", ref.image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise InvalidInputError(f"station {slug}: cannot encode the reference image")
    set_reference_image(session, slug=slug, data=encoded.tobytes(), media_dir=media_dir)
    if ref.stable_mask is not None:
        relative = Path("shoreline") / slug / "stable-mask.png"
        (media_dir / relative).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(media_dir / relative), ref.stable_mask.astype(np.uint8) * 255)
        station.stable_mask_path = relative.as_posix()
        station.calibration_version = calibration_digest(station)
        session.flush()
    return station
