"""Fire alerts as GeoJSON (RFC 7946: WGS84, [longitude, latitude] order, counter-clockwise exteriors).

Each alert gives up to four kinds of features, told apart by the `feature` property: `location` (the
triangulated point), `uncertainty` (its polygon), and per camera a `bearing` line and its `cone`, drawn
along true geodesics from the camera up to the bearing's range. A camera that saw the alert but has no
heading gives a `bearing_unknown` feature with a null geometry (RFC 7946 §3.2) and the `reason`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pyproj import Geod
from shapely.geometry import LineString, Polygon, mapping, shape
from shapely.geometry.polygon import orient

from vigie.services.fire_alerts import has_azimuth
from vigie.services.fire_views import AlertOut

GEOD = Geod(ellps="WGS84")
DEFAULT_RANGE_M = 15_000.0  # when a bearing carries no range: a typical lookout's useful range
ARC_STEP_DEG = 0.5
DECIMALS = 7  # ~1 cm: RFC 7946 advises not to publish more precision than is meaningful


def _round(geometry: dict[str, Any]) -> dict[str, Any]:
    def walk(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [walk(v) for v in value]
        return round(float(value), DECIMALS)

    return {"type": geometry["type"], "coordinates": walk(geometry["coordinates"])}


def bearing_line(longitude: float, latitude: float, azimuth_deg: float, range_m: float) -> LineString:
    """The geodesic from the camera along `azimuth_deg` (clockwise from true north) for `range_m`."""
    steps = 16  # a geodesic is not straight in lon/lat; a few vertices keep it on course on a map
    distances = np.linspace(0.0, range_m, steps + 1)
    lons, lats, _ = GEOD.fwd(
        np.full(steps + 1, longitude),
        np.full(steps + 1, latitude),
        np.full(steps + 1, azimuth_deg),
        distances,
    )
    return LineString(list(zip(lons, lats, strict=True)))


def cone_polygon(
    longitude: float, latitude: float, left_deg: float, right_deg: float, range_m: float
) -> Polygon:
    """The sector seen between `left_deg` and `right_deg` (clockwise, across 0/360 if needed)."""
    width = (right_deg - left_deg) % 360.0
    steps = max(2, int(np.ceil(width / ARC_STEP_DEG)) + 1)
    azimuths = (left_deg + width * np.linspace(0.0, 1.0, steps)) % 360.0
    if width < 1e-6:  # a zero-width cone would be a degenerate polygon
        azimuths = np.array([left_deg - 0.01, left_deg + 0.01]) % 360.0
    lons, lats, _ = GEOD.fwd(
        np.full(len(azimuths), longitude),
        np.full(len(azimuths), latitude),
        azimuths,
        np.full(len(azimuths), range_m),
    )
    return orient(Polygon([(longitude, latitude), *zip(lons, lats, strict=True)]), sign=1.0)


def _feature(geometry: Any, properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "Feature", "geometry": _round(mapping(geometry)), "properties": properties}


def alert_features(alert: AlertOut) -> list[dict[str, Any]]:
    common = {
        "alert_id": alert.id,
        "public_id": alert.public_id,
        "kind": alert.kind.value,
        "status": alert.status.value,
        "confidence": alert.confidence,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
    }
    features: list[dict[str, Any]] = []
    if alert.location is not None:
        point = {"type": "Point", "coordinates": [alert.location.longitude, alert.location.latitude]}
        features.append(
            {
                "type": "Feature",
                "geometry": _round(point),
                "properties": {
                    **common,
                    "feature": "location",
                    "x_l93": alert.location.x_l93,
                    "y_l93": alert.location.y_l93,
                },
            }
        )
    if alert.uncertainty is not None:
        features.append(
            _feature(orient(shape(alert.uncertainty), sign=1.0), {**common, "feature": "uncertainty"})
        )
    for bearing in alert.bearings:
        if not has_azimuth(bearing):
            # A camera without heading saw it but gives no direction: nothing to draw, the reason is kept.
            features.append(
                {
                    "type": "Feature",
                    "geometry": None,
                    "properties": {
                        **common,
                        "feature": "bearing_unknown",
                        "camera_id": bearing.get("camera_id"),
                        "camera": bearing.get("camera"),
                        "reason": bearing.get("reason"),
                        "seen_at": bearing.get("seen_at"),
                    },
                }
            )
            continue
        lon, lat = bearing.get("longitude"), bearing.get("latitude")
        if lon is None or lat is None:  # camera without a position: nothing to draw
            continue
        range_m = float(bearing.get("range_m") or DEFAULT_RANGE_M)
        props = {
            **common,
            "camera_id": bearing.get("camera_id"),
            "camera": bearing.get("camera"),
            "azimuth_deg": bearing.get("azimuth_deg"),
            "range_m": range_m,
            "seen_at": bearing.get("seen_at"),
        }
        features.append(
            _feature(
                bearing_line(lon, lat, float(bearing["azimuth_deg"]), range_m),
                {**props, "feature": "bearing"},
            )
        )
        if bearing.get("left_deg") is not None and bearing.get("right_deg") is not None:
            cone = cone_polygon(lon, lat, float(bearing["left_deg"]), float(bearing["right_deg"]), range_m)
            features.append(
                _feature(
                    cone,
                    {
                        **props,
                        "feature": "cone",
                        "left_deg": bearing["left_deg"],
                        "right_deg": bearing["right_deg"],
                    },
                )
            )
    return features


def feature_collection(alerts: list[AlertOut]) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [f for a in alerts for f in alert_features(a)]}
