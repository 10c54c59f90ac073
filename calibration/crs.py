"""Coordinate reference systems: WGS84 (EPSG:4326, what the store keeps) ⇄ projected CRSs in metres
(Lambert-93 / EPSG:2154 by default in France, any EPSG accepted).

Every function checks coordinates against the CRS's declared area of use, so that a point given in the
wrong CRS (Lambert-93 metres read as degrees, lon/lat swapped, a UTM zone for another continent) is
rejected with a clear message instead of landing in the ocean.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from vigie.errors import InvalidInputError

WGS84 = 4326
LAMBERT93 = 2154
# Margin around a CRS's area of use, in degrees: cameras look a few km beyond a coastline or border.
AREA_MARGIN_DEG = 0.5


@lru_cache(maxsize=64)
def crs(epsg: int) -> CRS:
    try:
        result = CRS.from_epsg(int(epsg))
    except (CRSError, ValueError, TypeError) as exc:
        raise InvalidInputError(f"EPSG:{epsg} is not a known coordinate reference system") from exc
    return result


def require_projected(epsg: int) -> CRS:
    """A projected CRS with metre axes, as rectification grids and shoreline rates need."""
    c = crs(epsg)
    if not c.is_projected:
        raise InvalidInputError(
            f"EPSG:{epsg} ({c.name}) is not a projected CRS; expected metres, e.g. EPSG:2154"
        )
    unit = c.axis_info[0].unit_name
    if unit not in ("metre", "meter"):
        raise InvalidInputError(f"EPSG:{epsg} ({c.name}) has axes in {unit}; expected metres")
    return c


@lru_cache(maxsize=64)
def _transformer(src: int, dst: int) -> Transformer:
    return Transformer.from_crs(crs(src), crs(dst), always_xy=True)


def check_lonlat(
    lon: np.ndarray | float, lat: np.ndarray | float, *, epsg: int | None = None, what: str = "coordinates"
) -> None:
    """Raise if lon/lat are not WGS84 degrees, or (given `epsg`) fall outside that CRS's area of use."""
    lon_a, lat_a = np.atleast_1d(np.asarray(lon, float)), np.atleast_1d(np.asarray(lat, float))
    if not (np.isfinite(lon_a).all() and np.isfinite(lat_a).all()):
        raise InvalidInputError(f"{what}: coordinates must be finite numbers")
    if (np.abs(lon_a) > 180).any() or (np.abs(lat_a) > 90).any():
        i = int(np.argmax((np.abs(lon_a) > 180) | (np.abs(lat_a) > 90)))
        raise InvalidInputError(
            f"{what}: ({lon_a[i]:g}, {lat_a[i]:g}) is not a WGS84 longitude/latitude in degrees "
            "(wrong CRS? projected metres must be converted, or give their EPSG code)"
        )
    if epsg is None:
        return
    area = crs(epsg).area_of_use
    if area is None:
        return
    west, south, east, north = (
        area.west - AREA_MARGIN_DEG,
        area.south - AREA_MARGIN_DEG,
        area.east + AREA_MARGIN_DEG,
        area.north + AREA_MARGIN_DEG,
    )
    outside = (lon_a < west) | (lon_a > east) | (lat_a < south) | (lat_a > north)
    if outside.any():
        i = int(np.argmax(outside))
        raise InvalidInputError(
            f"{what}: ({lon_a[i]:g}, {lat_a[i]:g}) is outside the area of use of EPSG:{epsg} "
            f"({area.name}: lon {area.west:g}..{area.east:g}, lat {area.south:g}..{area.north:g}); wrong CRS?"
        )


def to_projected(
    lon: np.ndarray | float, lat: np.ndarray | float, epsg: int = LAMBERT93
) -> tuple[np.ndarray, np.ndarray]:
    """WGS84 degrees → projected metres (x east, y north) in `epsg`."""
    require_projected(epsg)
    check_lonlat(lon, lat, epsg=epsg)
    x, y = _transformer(WGS84, epsg).transform(np.asarray(lon, float), np.asarray(lat, float))
    return np.asarray(x), np.asarray(y)


def to_wgs84(
    x: np.ndarray | float, y: np.ndarray | float, epsg: int = LAMBERT93
) -> tuple[np.ndarray, np.ndarray]:
    """Projected metres in `epsg` → WGS84 degrees; refuses points that land outside the CRS's area."""
    require_projected(epsg)
    x_a, y_a = np.asarray(x, float), np.asarray(y, float)
    if not (np.isfinite(x_a).all() and np.isfinite(y_a).all()):
        raise InvalidInputError(f"EPSG:{epsg} coordinates must be finite numbers")
    lon, lat = _transformer(epsg, WGS84).transform(x_a, y_a)
    lon, lat = np.asarray(lon), np.asarray(lat)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all()):
        raise InvalidInputError(f"EPSG:{epsg} coordinates cannot be transformed (wrong CRS?)")
    check_lonlat(lon, lat, epsg=epsg, what=f"EPSG:{epsg} coordinates")
    return lon, lat
