"""Fire alerts as OASIS Common Alerting Protocol 1.2 messages (urn:oasis:names:tc:emergency:cap:1.2).

Mapping of the alert's life cycle to CAP:
- new / acknowledged: msgType Alert (Update once the status moved), certainty Likely or Possible from the
  detector's confidence, urgency Immediate;
- confirmed: Update, certainty Observed, urgency Immediate, severity Severe (Extreme on a fire-danger
  level of 4 or 5);
- false_alarm: Cancel (of the first message), certainty Unlikely, urgency Past;
- closed: Update, urgency Past.
Every message after the first references it (`sender,identifier,sent`), as CAP requires for Update and
Cancel. The area is the uncertainty polygon, else a 500 m circle around the point, else each camera's cone.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from vigie.services.fire_alerts import has_azimuth
from vigie.services.fire_geojson import DEFAULT_RANGE_M, cone_polygon
from vigie.services.fire_views import AlertOut
from vigie.store.models import AlertKind, AlertStatus

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
POINT_RADIUS_KM = 0.5  # a triangulated point without polygon: a conservative circle around it
CONFIDENT = 0.6  # detector confidence from which an unconfirmed alert is "Likely" rather than "Possible"


def cap_datetime(moment: datetime) -> str:
    """CAP date-time: seconds precision, numeric offset, UTC written as -00:00 (never 'Z')."""
    # isoformat, not strftime: glibc's %Y writes year 1 as "1", not the 4 digits XML date-times need.
    text = moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat()
    return text + "-00:00"


def _ring_text(coords: list[tuple[float, float]]) -> str:
    # CAP polygons: space-separated "lat,lon" pairs, first and last identical, at least 4 pairs.
    return " ".join(f"{lat:.6f},{lon:.6f}" for lon, lat in coords)


def _qualifiers(alert: AlertOut) -> tuple[str, str, str, str]:
    """(msgType, urgency, severity, certainty)."""
    moved = alert.status != AlertStatus.NEW
    fire = alert.kind == AlertKind.FIRE
    if alert.status == AlertStatus.FALSE_ALARM:
        return "Cancel", "Past", "Minor", "Unlikely"
    if alert.status == AlertStatus.CLOSED:
        return "Update", "Past", "Minor", "Observed" if _was_confirmed(alert) else "Unlikely"
    if alert.status == AlertStatus.CONFIRMED:
        severe = "Extreme" if (alert.danger_level or 0) >= 4 else "Severe"
        return "Update", "Immediate", severe, "Observed"
    likely = (alert.confidence or 0.0) >= CONFIDENT
    return (
        ("Update" if moved else "Alert"),
        "Immediate",
        "Severe" if fire else "Moderate",
        ("Likely" if likely else "Possible"),
    )


def _bearing_text(bearing: dict) -> str:
    camera = bearing.get("camera") or bearing.get("camera_id")
    if not has_azimuth(bearing):
        return f"{camera} bearing unknown ({bearing.get('reason') or 'no direction'})"
    return f"{camera} {float(bearing['azimuth_deg']):.1f}°"


def _was_confirmed(alert: AlertOut) -> bool:
    return any(e.to_status == AlertStatus.CONFIRMED for e in alert.events or [])


def _sub(parent: ET.Element, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{CAP_NS}}}{tag}")
    if text is not None:
        element.text = text
    return element


def alert_to_cap(alert: AlertOut, *, sender: str, base_url: str | None = None) -> str:
    """The alert as a CAP 1.2 XML document (UTF-8 text with declaration)."""
    msg_type, urgency, severity, certainty = _qualifiers(alert)
    first_sent = cap_datetime(alert.first_seen_at)
    ET.register_namespace("", CAP_NS)
    root = ET.Element(f"{{{CAP_NS}}}alert")
    # One identifier per message: the first message is the alert's public id, later ones add the change time.
    updated = alert.updated_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    _sub(root, "identifier", alert.public_id if msg_type == "Alert" else f"{alert.public_id}.{updated}")
    _sub(root, "sender", sender)
    _sub(root, "sent", cap_datetime(alert.updated_at if msg_type != "Alert" else alert.first_seen_at))
    _sub(root, "status", "Actual")
    _sub(root, "msgType", msg_type)
    _sub(root, "source", f"vigie {alert.model_name} {alert.model_version}")
    _sub(root, "scope", "Restricted")
    _sub(
        root,
        "restriction",
        "Fire and rescue services; automated detection awaiting operator review"
        if alert.status in (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED)
        else "Fire and rescue services",
    )
    if msg_type != "Alert":
        _sub(root, "references", f"{sender},{alert.public_id},{first_sent}")
    _sub(root, "incidents", alert.public_id)

    info = _sub(root, "info")
    _sub(info, "language", "en")
    _sub(info, "category", "Fire")
    what = "Wildfire (flames)" if alert.kind == AlertKind.FIRE else "Wildfire smoke"
    _sub(info, "event", what)
    _sub(info, "responseType", "AllClear" if urgency == "Past" else "Monitor")
    _sub(info, "urgency", urgency)
    _sub(info, "severity", severity)
    _sub(info, "certainty", certainty)
    _sub(info, "onset", first_sent)
    _sub(info, "senderName", "Vigie wildfire watch")
    _sub(info, "headline", f"{what} {alert.status.value.replace('_', ' ')}")
    cameras = ", ".join(
        str(b.get("camera_name") or b.get("camera") or b.get("camera_id")) for b in alert.bearings
    )
    bearings = "; ".join(_bearing_text(b) for b in alert.bearings)
    description = f"{what} detected by camera(s) {cameras or 'unknown'}; bearings {bearings or 'none'}."
    if alert.location is not None:
        description += f" Estimated position {alert.location.latitude:.5f}N {alert.location.longitude:.5f}E."
    _sub(info, "description", description)
    if base_url:
        _sub(info, "web", f"{base_url.rstrip('/')}/fire/console#alert-{alert.id}")
    for name, value in (
        ("confidence", None if alert.confidence is None else f"{alert.confidence:.2f}"),
        ("status", alert.status.value),
        ("fireDangerLevel", None if alert.danger_level is None else str(alert.danger_level)),
        ("model", f"{alert.model_name} {alert.model_version}"),
        ("calibrationVersion", alert.calibration_version),
        (
            "lambert93",
            None
            if alert.location is None or alert.location.x_l93 is None
            else f"{alert.location.x_l93:.0f},{alert.location.y_l93:.0f}",
        ),
    ):
        if value is not None:
            parameter = _sub(info, "parameter")
            _sub(parameter, "valueName", name)
            _sub(parameter, "value", value)
    if base_url and alert.frame_url:
        resource = _sub(info, "resource")
        _sub(resource, "resourceDesc", "Camera frame with the detection")
        _sub(resource, "mimeType", "image/jpeg")
        _sub(resource, "uri", f"{base_url.rstrip('/')}{alert.frame_url}")
    _add_area(info, alert)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _add_area(info: ET.Element, alert: AlertOut) -> None:
    area = _sub(info, "area")
    if alert.uncertainty is not None:
        _sub(area, "areaDesc", "Estimated fire area (intersection of camera bearings)")
        _sub(area, "polygon", _ring_text([tuple(c) for c in alert.uncertainty["coordinates"][0]]))
        return
    if alert.location is not None:
        _sub(area, "areaDesc", "Estimated fire position")
        _sub(
            area, "circle", f"{alert.location.latitude:.6f},{alert.location.longitude:.6f} {POINT_RADIUS_KM}"
        )
        return
    drawable = [
        b
        for b in alert.bearings
        if has_azimuth(b) and b.get("longitude") is not None and b.get("latitude") is not None
    ]
    if not drawable:  # e.g. only cameras without heading: CAP still requires an areaDesc
        _sub(area, "areaDesc", "Position and bearing unknown (see description)")
        return
    _sub(area, "areaDesc", "Sector seen by the camera(s): the fire lies on the bearing, position unknown")
    for bearing in drawable:
        lon, lat = bearing["longitude"], bearing["latitude"]
        left = bearing.get("left_deg")
        right = bearing.get("right_deg")
        left = bearing["azimuth_deg"] if left is None else left
        right = bearing["azimuth_deg"] if right is None else right
        cone = cone_polygon(
            lon, lat, float(left), float(right), float(bearing.get("range_m") or DEFAULT_RANGE_M)
        )
        _sub(area, "polygon", _ring_text(list(cone.exterior.coords)))
