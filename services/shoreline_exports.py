"""Shorelines of a station as GeoJSON or CSV in EPSG:4326 or a projected CRS, and the data of its report.

GeoJSON in EPSG:4326 follows RFC 7946 (lon, lat); in a projected CRS it carries the legacy `crs` member
naming it, since RFC 7946 has no other way to say so. CSV has one row per shoreline vertex.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.calibration import crs as crs_mod
from vigie.errors import InvalidInputError
from vigie.services.shoreline_stations import get_station
from vigie.store.models import PhotoStatus, Shoreline, ShorelinePhoto

WGS84 = 4326


def _rows(session: Session, station_id: int) -> list[tuple[Shoreline, ShorelinePhoto]]:
    return list(
        session.execute(
            select(Shoreline, ShorelinePhoto)
            .join(ShorelinePhoto, Shoreline.photo_id == ShorelinePhoto.id)
            .where(Shoreline.station_id == station_id)
            .order_by(ShorelinePhoto.taken_at, Shoreline.id)
        ).all()
    )


def _coords(shoreline: Shoreline, epsg: int) -> np.ndarray:
    lonlat = np.asarray(shoreline.geometry.coords, dtype=float)
    if epsg == WGS84:
        return lonlat
    x, y = crs_mod.to_projected(lonlat[:, 0], lonlat[:, 1], epsg)
    return np.column_stack([x, y])


def _check_epsg(epsg: int) -> None:
    if epsg != WGS84:
        crs_mod.require_projected(epsg)


def shorelines_geojson(session: Session, *, slug: str, epsg: int = WGS84) -> dict[str, Any]:
    _check_epsg(epsg)
    station = get_station(session, slug=slug)
    digits = 8 if epsg == WGS84 else 3
    features = []
    for sl, photo in _rows(session, station.id):
        coords = _coords(sl, epsg)
        features.append(
            {
                "type": "Feature",
                "id": sl.id,
                "geometry": {
                    "type": "LineString",
                    "coordinates": [[round(float(a), digits), round(float(b), digits)] for a, b in coords],
                },
                "properties": {
                    "station": station.slug,
                    "photo_id": photo.id,
                    "taken_at": None if photo.taken_at is None else photo.taken_at.isoformat(),
                    "water_level_m": sl.water_level_m,
                    "method": sl.method,
                    "model_version": sl.model_version,
                    "calibration_version": sl.calibration_version,
                    "point_confidence": sl.point_confidence,
                },
            }
        )
    out: dict[str, Any] = {"type": "FeatureCollection", "features": features}
    if epsg != WGS84:
        out["crs"] = {"type": "name", "properties": {"name": f"urn:ogc:def:crs:EPSG::{epsg}"}}
    return out


CSV_COLUMNS = (
    "shoreline_id",
    "photo_id",
    "taken_at",
    "water_level_m",
    "vertex",
    "x",
    "y",
    "epsg",
    "confidence",
    "calibration_version",
)


def shorelines_csv(session: Session, *, slug: str, epsg: int = WGS84) -> str:
    _check_epsg(epsg)
    station = get_station(session, slug=slug)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    digits = 8 if epsg == WGS84 else 3
    for sl, photo in _rows(session, station.id):
        conf = sl.point_confidence or []
        for i, (a, b) in enumerate(_coords(sl, epsg)):
            writer.writerow(
                [
                    sl.id,
                    photo.id,
                    "" if photo.taken_at is None else photo.taken_at.isoformat(),
                    "" if sl.water_level_m is None else sl.water_level_m,
                    i,
                    round(float(a), digits),
                    round(float(b), digits),
                    epsg,
                    conf[i] if i < len(conf) else "",
                    sl.calibration_version,
                ]
            )
    return buffer.getvalue()


def parse_epsg(value: str | int) -> int:
    """`4326`, `EPSG:2154` or `2154` → an int; InvalidInputError otherwise."""
    text = str(value).strip().upper().removeprefix("EPSG:")
    # ASCII digits only (str.isdigit accepts '¹', which int() refuses), and no more than EPSG codes have.
    if not (text.isascii() and text.isdigit() and len(text) <= 6):
        raise InvalidInputError(f"crs {value!r}: expected an EPSG code such as 4326 or EPSG:2154")
    return int(text)


# --- report data --------------------------------------------------------------------------------------


def report_data(session: Session, *, slug: str, media_dir: Path) -> Any:
    """Everything `pipelines.shoreline.report` draws for a station, read from the database."""
    from vigie.pipelines.shoreline.report import ReportShoreline, StationReportData

    station = get_station(session, slug=slug)
    shorelines = []
    for sl, photo in _rows(session, station.id):
        world = _coords(sl, station.epsg)
        shorelines.append(
            ReportShoreline(
                id=sl.id,
                photo_id=photo.id,
                taken_at=photo.taken_at,
                water_level_m=sl.water_level_m,
                world_xy=world,
                confidence=np.asarray(sl.point_confidence or [], dtype=float),
                transect_distances=[np.nan if d is None else float(d) for d in (sl.transect_distances or [])],
                calibration_version=sl.calibration_version,
                plan_path=None
                if not (photo.details or {}).get("plan_path")
                else media_dir / photo.details["plan_path"],
            )
        )
    counts = {s.value: 0 for s in PhotoStatus}
    flagged: list[tuple[int, datetime | None, str]] = []
    for photo in session.scalars(
        select(ShorelinePhoto)
        .where(ShorelinePhoto.station_id == station.id)
        .order_by(ShorelinePhoto.uploaded_at)
    ):
        counts[photo.status.value] += 1
        # Set aside by processing (the photo's fault), or not processed yet for another cause.
        if photo.status == PhotoStatus.FLAGGED:
            flagged.append((photo.id, photo.taken_at, photo.reject_reason or ""))
        elif photo.status == PhotoStatus.FAILED:
            flagged.append((photo.id, photo.taken_at, f"not processed: {photo.reject_reason or 'error'}"))
    setup = station.setup or {}
    return StationReportData(
        slug=station.slug,
        name=station.name,
        epsg=station.epsg,
        origin_xy=tuple(setup.get("origin", (0.0, 0.0))),
        plan=setup.get("plan"),
        transects=np.array(
            [[t["x0"], t["y0"], t["x1"], t["y1"]] for t in station.transects], dtype=float
        ).reshape(-1, 4),
        shorelines=shorelines,
        photo_counts=counts,
        flagged=flagged,
        calibration_version=station.calibration_version,
    )
