"""CAP 1.2 and GeoJSON renderings of alerts (pure functions over AlertOut)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pyproj import Geod
from shapely.geometry import Point, shape

from vigie.services.fire_cap import CAP_NS, alert_to_cap, cap_datetime
from vigie.services.fire_geojson import bearing_line, cone_polygon, feature_collection
from vigie.services.fire_views import AlertEventOut, AlertOut, LocationOut
from vigie.store.models import AlertStatus

NS = f"{{{CAP_NS}}}"
T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)
GEOD = Geod(ellps="WGS84")
# CAP 1.2 element order (OASIS schema): <alert> children, then <info> children.
ALERT_ORDER = [
    "identifier",
    "sender",
    "sent",
    "status",
    "msgType",
    "source",
    "scope",
    "restriction",
    "addresses",
    "code",
    "note",
    "references",
    "incidents",
    "info",
]
INFO_ORDER = [
    "language",
    "category",
    "event",
    "responseType",
    "urgency",
    "severity",
    "certainty",
    "audience",
    "eventCode",
    "effective",
    "onset",
    "expires",
    "senderName",
    "headline",
    "description",
    "instruction",
    "web",
    "contact",
    "parameter",
    "resource",
    "area",
]


def make_alert(**overrides) -> AlertOut:
    values = dict(
        id=7,
        public_id="evt-7",
        kind="smoke",
        status="new",
        first_seen_at=T0,
        last_seen_at=T0 + timedelta(minutes=2),
        updated_at=T0 + timedelta(minutes=3),
        site_id=1,
        confidence=0.5,
        danger_level=3,
        location=None,
        uncertainty=None,
        bearings=[
            {
                "camera_id": 1,
                "camera": "north",
                "camera_name": "North",
                "azimuth_deg": 359.0,
                "left_deg": 358.0,
                "right_deg": 1.0,
                "range_m": 10000.0,
                "longitude": 5.4,
                "latitude": 43.5,
            }
        ],
        cameras=[1],
        frame_url="/api/v1/alerts/7/frame.jpg",
        frame_box=[1.0, 2.0, 3.0, 4.0],
        frame_size=[640, 360],
        frame_camera_id=1,
        model_name="fire-smoke-yolov8",
        model_version="1.0.3",
        calibration_version="c1",
        events=[AlertEventOut(at=T0, actor="pipeline", from_status=None, to_status="new", note=None)],
    )
    values.update(overrides)
    return AlertOut.model_validate(values)


def parse(xml: str) -> ET.Element:
    root = ET.fromstring(xml.encode())
    assert root.tag == f"{NS}alert"
    return root


def local(tag: str) -> str:
    assert tag.startswith(NS), f"{tag} is outside the CAP 1.2 namespace"
    return tag.removeprefix(NS)


def assert_schema_order(element: ET.Element, order: list[str]) -> None:
    tags = [local(child.tag) for child in element]
    assert all(tag in order for tag in tags), tags
    assert [order.index(t) for t in tags] == sorted(order.index(t) for t in tags), tags


def test_cap_datetime_format() -> None:
    paris = timezone(timedelta(hours=2))
    assert cap_datetime(datetime(2026, 7, 14, 15, 0, 5, 123456, tzinfo=paris)) == "2026-07-14T13:00:05-00:00"


@pytest.mark.parametrize(
    ("status", "confidence", "msg_type", "urgency", "certainty"),
    [
        ("new", 0.5, "Alert", "Immediate", "Possible"),
        ("new", 0.8, "Alert", "Immediate", "Likely"),
        ("acknowledged", 0.8, "Update", "Immediate", "Likely"),
        ("confirmed", 0.5, "Update", "Immediate", "Observed"),
        ("false_alarm", 0.9, "Cancel", "Past", "Unlikely"),
    ],
)
def test_status_maps_to_cap_qualifiers(
    status: str, confidence: float, msg_type: str, urgency: str, certainty: str
) -> None:
    root = parse(alert_to_cap(make_alert(status=status, confidence=confidence), sender="vigie@sdis.example"))
    assert_schema_order(root, ALERT_ORDER)
    info = root.find(f"{NS}info")
    assert_schema_order(info, INFO_ORDER)
    assert root.findtext(f"{NS}msgType") == msg_type
    assert root.findtext(f"{NS}status") == "Actual"
    assert info.findtext(f"{NS}urgency") == urgency
    assert info.findtext(f"{NS}certainty") == certainty
    assert info.findtext(f"{NS}category") == "Fire"
    if msg_type == "Alert":
        assert root.find(f"{NS}references") is None and root.findtext(f"{NS}identifier") == "evt-7"
    else:  # Update/Cancel reference the first message: sender,identifier,sent
        sender, identifier, sent = root.findtext(f"{NS}references").split(",")
        assert (sender, identifier, sent) == ("vigie@sdis.example", "evt-7", cap_datetime(T0))
        assert root.findtext(f"{NS}identifier") != "evt-7"


def test_confirmed_on_high_danger_is_extreme() -> None:
    info = parse(alert_to_cap(make_alert(status="confirmed", danger_level=5), sender="s")).find(f"{NS}info")
    assert info.findtext(f"{NS}severity") == "Extreme"


def test_closed_after_confirmation_is_observed() -> None:
    events = [
        AlertEventOut(at=T0, actor="p", from_status=None, to_status="new", note=None),
        AlertEventOut(at=T0, actor="op", from_status="new", to_status="confirmed", note=None),
        AlertEventOut(at=T0, actor="op", from_status="confirmed", to_status="closed", note=None),
    ]
    info = parse(alert_to_cap(make_alert(status="closed", events=events), sender="s")).find(f"{NS}info")
    assert (info.findtext(f"{NS}urgency"), info.findtext(f"{NS}certainty")) == ("Past", "Observed")


def _pairs(text: str) -> list[tuple[float, float]]:
    return [tuple(float(v) for v in pair.split(",")) for pair in text.split()]


def test_area_bearing_only_is_the_cone_across_north() -> None:
    area = parse(alert_to_cap(make_alert(), sender="s")).find(f"{NS}info/{NS}area")
    assert area.find(f"{NS}circle") is None
    pairs = _pairs(area.findtext(f"{NS}polygon"))
    assert pairs[0] == pairs[-1] and len(pairs) >= 4
    assert pairs[0] == (43.5, 5.4)  # lat,lon of the camera
    # the cone spans 358° → 1° through north: every arc point lies north of the camera, ~10 km away
    for lat, lon in pairs[1:-1]:
        azimuth, _, distance = GEOD.inv(5.4, 43.5, lon, lat)
        assert distance == pytest.approx(10_000, abs=1.0)  # CAP pairs carry 6 decimals (~0.1 m)
        assert -2.01 <= azimuth <= 1.01


def test_area_point_is_a_circle_and_polygon_wins() -> None:
    location = LocationOut(longitude=5.42, latitude=43.51, x_l93=None, y_l93=None)
    area = parse(alert_to_cap(make_alert(location=location), sender="s")).find(f"{NS}info/{NS}area")
    centre, radius = area.findtext(f"{NS}circle").split()
    assert _pairs(centre) == [(43.51, 5.42)] and float(radius) > 0
    square = {
        "type": "Polygon",
        "coordinates": [[[5.41, 43.5], [5.43, 43.5], [5.43, 43.52], [5.41, 43.52], [5.41, 43.5]]],
    }
    area = parse(alert_to_cap(make_alert(location=location, uncertainty=square), sender="s")).find(
        f"{NS}info/{NS}area"
    )
    assert area.find(f"{NS}circle") is None
    assert _pairs(area.findtext(f"{NS}polygon"))[1] == (43.5, 5.43)


def test_resource_link_only_with_a_base_url() -> None:
    root = parse(alert_to_cap(make_alert(), sender="s", base_url="https://vigie.example/"))
    assert (
        root.findtext(f"{NS}info/{NS}resource/{NS}uri") == "https://vigie.example/api/v1/alerts/7/frame.jpg"
    )
    assert parse(alert_to_cap(make_alert(), sender="s")).find(f"{NS}info/{NS}resource") is None


# --- GeoJSON ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("left", "right"), [(358.0, 1.0), (10.0, 20.0), (179.0, 181.0)])
def test_cone_is_a_ccw_sector_of_the_right_width(left: float, right: float) -> None:
    cone = cone_polygon(5.4, 43.5, left, right, 5000.0)
    assert cone.is_valid and cone.exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise
    azimuths = [GEOD.inv(5.4, 43.5, lon, lat)[0] % 360 for lon, lat in list(cone.exterior.coords)[1:-1]]
    width = (right - left) % 360
    assert all((a - left) % 360 <= width + 1e-6 for a in azimuths)
    assert cone.contains(Point(*bearing_line(5.4, 43.5, (left + width / 2) % 360, 2500.0).coords[-1]))


def test_bearing_line_reaches_its_range_on_its_azimuth() -> None:
    line = bearing_line(5.4, 43.5, 45.0, 12_000.0)
    azimuth, _, distance = GEOD.inv(5.4, 43.5, *line.coords[-1])
    assert azimuth == pytest.approx(45.0, abs=1e-6) and distance == pytest.approx(12_000.0, rel=1e-9)


def test_feature_collection_is_lon_lat_and_complete() -> None:
    location = LocationOut(longitude=5.42, latitude=43.51, x_l93=900000.0, y_l93=6270000.0)
    alert = make_alert(
        location=location,
        bearings=[
            {
                "camera_id": 1,
                "camera": "north",
                "azimuth_deg": 100.0,
                "left_deg": 99.0,
                "right_deg": 101.0,
                "longitude": 5.4,
                "latitude": 43.5,
            },  # no range: the default applies
            {"camera_id": 2, "camera": "nowhere", "azimuth_deg": 10.0, "longitude": None, "latitude": None},
        ],
    )
    collection = feature_collection([alert])
    features = {f["properties"]["feature"]: f for f in collection["features"]}
    assert set(features) == {"location", "bearing", "cone"}  # the camera without position draws nothing
    assert features["location"]["geometry"]["coordinates"] == [5.42, 43.51]
    assert features["location"]["properties"]["status"] == AlertStatus.NEW.value
    start = features["bearing"]["geometry"]["coordinates"][0]
    assert start == [5.4, 43.5]
    assert shape(features["cone"]["geometry"]).is_valid
    assert features["bearing"]["properties"]["range_m"] > 0


NO_HEADING_BEARING = {
    "camera_id": 3,
    "camera": "sans-cap",
    "camera_name": "Sans cap",
    "azimuth_deg": None,
    "reason": "camera has no heading",
    "seen_at": T0.isoformat(),
    "longitude": 5.5,
    "latitude": 43.6,
}


def test_cap_of_a_camera_without_heading_says_the_bearing_is_unknown() -> None:
    root = parse(alert_to_cap(make_alert(bearings=[NO_HEADING_BEARING], cameras=[3]), sender="s"))
    info = root.find(f"{NS}info")
    assert_schema_order(info, INFO_ORDER)
    description = info.findtext(f"{NS}description")
    assert "sans-cap bearing unknown (camera has no heading)" in description
    area = info.find(f"{NS}area")
    # No direction, no position: no polygon or circle, only the description CAP requires.
    assert area.find(f"{NS}polygon") is None and area.find(f"{NS}circle") is None
    assert "unknown" in area.findtext(f"{NS}areaDesc")


def test_cap_mixes_a_known_cone_and_an_unknown_bearing() -> None:
    alert = make_alert()
    alert = make_alert(bearings=[*alert.bearings, NO_HEADING_BEARING], cameras=[1, 3])
    info = parse(alert_to_cap(alert, sender="s")).find(f"{NS}info")
    description = info.findtext(f"{NS}description")
    assert "north 359.0°" in description and "sans-cap bearing unknown" in description
    polygons = info.find(f"{NS}area").findall(f"{NS}polygon")
    assert len(polygons) == 1 and _pairs(polygons[0].text)[0] == (43.5, 5.4)  # only the north cone


def test_geojson_of_a_bearing_without_azimuth_draws_nothing_but_keeps_the_reason() -> None:
    alert = make_alert()
    alert = make_alert(bearings=[*alert.bearings, NO_HEADING_BEARING], cameras=[1, 3])
    features = feature_collection([alert])["features"]
    kinds = sorted(f["properties"]["feature"] for f in features)
    assert kinds == ["bearing", "bearing_unknown", "cone"]  # north: line and cone; sans-cap: no geometry
    unknown = next(f for f in features if f["properties"]["feature"] == "bearing_unknown")
    assert unknown["geometry"] is None
    assert unknown["properties"]["reason"] == "camera has no heading"
    assert unknown["properties"]["camera"] == "sans-cap" and unknown["properties"]["camera_id"] == 3
    drawn = [f for f in features if f["geometry"] is not None]
    assert all(f["properties"]["camera_id"] == 1 for f in drawn)
