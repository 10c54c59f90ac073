"""Geometry columns: validation, exact round-trips on both backends, real PostGIS types on PostgreSQL."""

from __future__ import annotations

import math

import pytest
import shapely
from shapely.geometry import LineString, MultiPoint, Point, Polygon
from sqlalchemy import func, select, text

from vigie.errors import InvalidInputError
from vigie.store.geometry import geometry_literal, validate_wgs84
from vigie.store.models import (
    Alert,
    AlertKind,
    Camera,
    CameraRole,
    Shoreline,
    ShorelinePhoto,
    ShorelineStation,
    Site,
    SiteKind,
)
from vigie.store.types import utcnow

# Digits beyond what a decimal round trip keeps, to catch lossy encodings.
POINT = Point(2.349014213456789, 48.864716123456789)
LINE = LineString(
    [
        (-1.2345678912345, 43.4832123456789),
        (-1.2339876543219, 43.4851987654321),
        (-1.2331111111117, 43.4870000000003),
    ]
)
POLYGON = Polygon([(6.101, 43.201), (6.2034567890123, 43.2), (6.15, 43.29876543210987), (6.101, 43.201)])


def _coords_close(a, b) -> bool:
    ca, cb = shapely.get_coordinates(a), shapely.get_coordinates(b)
    return ca.shape == cb.shape and bool((abs(ca - cb) <= 1e-9).all())


@pytest.mark.parametrize(
    ("geom", "geometry_type", "message"),
    [
        (Point(652000.0, 6862000.0), "POINT", "wrong CRS"),  # Lambert-93 metres
        (Point(48.86, 200.0), "POINT", "wrong CRS"),
        (Point(-180.5, 0.0), "POINT", "wrong CRS"),
        (Point(math.nan, 1.0), "POINT", "finite"),
        (Point(), "POINT", "non-empty"),
        (Point(1.0, 2.0, 3.0), "POINT", "3-D"),
        (LINE, "POINT", "expected a Point"),
        (Polygon([(0, 0), (1, 1), (1, 0), (0, 1), (0, 0)]), "POLYGON", "invalid geometry"),
        ("POINT (1 2)", "POINT", "shapely geometry"),
    ],
)
def test_validate_wgs84_rejects(geom, geometry_type, message):
    with pytest.raises(InvalidInputError, match=message):
        validate_wgs84(geom, geometry_type=geometry_type)


@pytest.mark.parametrize(
    "geom", [Point(180.0, -90.0), Point(-180.0, 90.0), POLYGON, MultiPoint([(1, 2), (3, 4)])]
)
def test_validate_wgs84_accepts_bounds_and_generic(geom):
    assert validate_wgs84(geom) is geom


def test_assigning_projected_coordinates_fails_at_assignment():
    site = Site(slug="s", name="S", kind=SiteKind.FIRE)
    with pytest.raises(InvalidInputError, match=r"sites\.location.*wrong CRS"):
        site.location = Point(652000.0, 6862000.0)
    with pytest.raises(InvalidInputError, match="expected a Point"):
        site.location = LINE


def _site_with_station(session):
    site = Site(slug="plage", name="Plage", kind=SiteKind.MIXED, location=POINT)
    session.add(site)
    session.flush()
    station = ShorelineStation(site_id=site.id, slug="st1", name="Station 1", location=POINT)
    session.add(station)
    session.flush()
    return site, station


def test_point_linestring_polygon_round_trip(engine, session):
    site, station = _site_with_station(session)
    photo = ShorelinePhoto(station_id=station.id, sha256="a" * 64, path="p.jpg")
    session.add(photo)
    session.flush()
    shoreline = Shoreline(
        photo_id=photo.id,
        station_id=station.id,
        geometry=LINE,
        method="rmb_otsu",
        calibration_version="cal-1",
        model_name="shoreline-rmb",
        model_version="1",
    )
    now = utcnow()
    alert = Alert(
        kind=AlertKind.SMOKE,
        first_seen_at=now,
        last_seen_at=now,
        location=POINT,
        uncertainty=POLYGON,
        model_name="m",
        model_version="1",
    )
    session.add_all([shoreline, alert])
    session.commit()
    ids = (site.id, shoreline.id, alert.id)
    session.expunge_all()

    site_back = session.get(Site, ids[0])
    shoreline_back = session.get(Shoreline, ids[1])
    alert_back = session.get(Alert, ids[2])
    assert site_back.location.geom_type == "Point"
    assert _coords_close(site_back.location, POINT)
    assert shoreline_back.geometry.geom_type == "LineString"
    assert _coords_close(shoreline_back.geometry, LINE)
    assert alert_back.uncertainty.geom_type == "Polygon"
    assert _coords_close(alert_back.uncertainty, POLYGON)
    assert alert_back.location.equals(POINT)
    assert (site_back.longitude, site_back.latitude) == pytest.approx((POINT.x, POINT.y), abs=1e-9)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgis_columns_are_real_geometry_with_srid(engine, session):
    _site_with_station(session)
    session.commit()
    row = session.execute(
        text("SELECT GeometryType(location), ST_SRID(location), ST_X(location), ST_Y(location) FROM sites")
    ).one()
    assert row[0] == "POINT"
    assert row[1] == 4326
    assert (row[2], row[3]) == pytest.approx((POINT.x, POINT.y), abs=1e-9)
    column_type = session.execute(
        text(
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute "
            "WHERE attrelid = 'cameras'::regclass AND attname = 'location'"
        )
    ).scalar_one()
    assert column_type == "geometry(Point,4326)"


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgis_spatial_query_finds_cameras_within_distance(engine, session):
    site = Site(slug="massif", name="Massif", kind=SiteKind.FIRE)
    session.add(site)
    session.flush()
    # ~1.1 km and ~11 km north of the reference point (0.01° and 0.1° of latitude).
    near = Camera(
        site_id=site.id, slug="near", name="Near", role=CameraRole.LOOKOUT, location=Point(5.0, 43.51)
    )
    far = Camera(site_id=site.id, slug="far", name="Far", role=CameraRole.LOOKOUT, location=Point(5.0, 43.6))
    session.add_all([near, far])
    session.flush()
    origin = geometry_literal(Point(5.0, 43.5), "POINT")
    within_5km = session.scalars(
        select(Camera.slug).where(
            func.ST_DWithin(func.Geography(Camera.location), func.Geography(origin), 5000.0)
        )
    ).all()
    assert within_5km == ["near"]
    inside = session.scalars(
        select(Camera.slug).where(func.ST_Intersects(Camera.location, geometry_literal(POLYGON, "POLYGON")))
    ).all()
    assert inside == []
