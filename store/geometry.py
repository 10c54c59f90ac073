"""Geometry columns in WGS84 (EPSG:4326): PostGIS types on PostgreSQL, hex EWKB text on SQLite.

Shapely geometries go in and come out on both backends. PostGIS gets real `geometry(<type>,4326)` columns
(so spatial SQL such as ST_DWithin works); SQLite stores the same hex EWKB that PostGIS prints, which
round-trips coordinates bit for bit and needs no SpatiaLite.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from geoalchemy2 import Geometry
from shapely.geometry.base import BaseGeometry
from sqlalchemy import Index, Text, literal
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator, TypeEngine

from vigie.errors import InvalidInputError

WGS84_SRID = 4326

# Shapely's geom_type names, keyed by the upper-case names PostGIS uses in column types.
_SHAPELY_TYPE = {
    "POINT": "Point",
    "LINESTRING": "LineString",
    "POLYGON": "Polygon",
    "MULTIPOINT": "MultiPoint",
    "MULTILINESTRING": "MultiLineString",
    "MULTIPOLYGON": "MultiPolygon",
    "GEOMETRYCOLLECTION": "GeometryCollection",
}


def validate_wgs84(geom: Any, *, geometry_type: str = "GEOMETRY", what: str = "geometry") -> BaseGeometry:
    """Return `geom` if it is a non-empty, valid shapely geometry of `geometry_type` in lon/lat degrees.

    Raises InvalidInputError naming `what` otherwise; coordinates outside |lon|≤180, |lat|≤90 almost always
    mean projected coordinates (e.g. Lambert-93 metres) were passed where WGS84 degrees were expected.
    """
    if not isinstance(geom, BaseGeometry):
        raise InvalidInputError(f"{what}: expected a shapely geometry, got {type(geom).__name__}")
    expected = _SHAPELY_TYPE.get(geometry_type.upper())
    if expected is not None and geom.geom_type != expected:
        raise InvalidInputError(f"{what}: expected a {expected}, got a {geom.geom_type}")
    if geom.is_empty:
        raise InvalidInputError(f"{what}: expected a non-empty {expected or 'geometry'}, got an empty one")
    if shapely.has_z(geom):
        raise InvalidInputError(f"{what}: expected 2-D lon/lat coordinates, got 3-D ones")
    coords = shapely.get_coordinates(geom)
    if not all(math.isfinite(v) for v in coords.ravel()):
        raise InvalidInputError(f"{what}: coordinates must be finite numbers, got {geom.wkt[:80]}")
    lon_bad = (abs(coords[:, 0]) > 180).any()
    lat_bad = (abs(coords[:, 1]) > 90).any()
    if lon_bad or lat_bad:
        raise InvalidInputError(
            f"{what}: coordinates must be WGS84 lon/lat degrees (|lon|≤180, |lat|≤90), got "
            f"{geom.wkt[:80]} (wrong CRS? project to EPSG:4326 first)"
        )
    if not geom.is_valid:
        raise InvalidInputError(f"{what}: invalid geometry ({shapely.is_valid_reason(geom)})")
    return geom


def _to_hex_ewkb(geom: BaseGeometry) -> str:
    return shapely.to_wkb(shapely.set_srid(geom, WGS84_SRID), hex=True, include_srid=True)


class GeometryType(TypeDecorator[BaseGeometry]):
    """A shapely geometry column in EPSG:4326: `geometry(<type>,4326)` on PostGIS, hex EWKB text elsewhere.

    Writes are validated with `validate_wgs84` (the ORM models also validate on attribute assignment, so
    bad coordinates fail where they are set rather than at flush time).
    """

    impl = Text
    cache_ok = True

    def __init__(self, geometry_type: str = "GEOMETRY") -> None:
        super().__init__()
        self.geometry_type = geometry_type.upper()

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            # Spatial indexes are declared explicitly (see `spatial_index`), not by geoalchemy2's events.
            return dialect.type_descriptor(Geometry(self.geometry_type, srid=WGS84_SRID, spatial_index=False))
        return dialect.type_descriptor(Text())

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        geom = validate_wgs84(value, geometry_type=self.geometry_type)
        # PostGIS's ST_GeomFromEWKT (geoalchemy2's bind expression) accepts hex EWKB as well as EWKT.
        return _to_hex_ewkb(geom)

    def process_result_value(self, value: Any, dialect: Dialect) -> BaseGeometry | None:
        if value is None:
            return None
        if hasattr(value, "data"):  # geoalchemy2 WKBElement on PostGIS
            value = value.data
        if isinstance(value, memoryview):
            value = bytes(value)
        return shapely.from_wkb(value)


def geometry_literal(geom: BaseGeometry, geometry_type: str = "GEOMETRY") -> ColumnElement[BaseGeometry]:
    """A bound SQL value for `geom`, typed so that spatial SQL functions receive a PostGIS geometry."""
    return literal(geom, type_=GeometryType(geometry_type))


def spatial_index(name: str, column: str) -> Index:
    """A GiST index on a geometry column, created on PostgreSQL only.

    `info["dialect"]` lets the schema comparison skip it on other backends (Alembic ignores `ddl_if`).
    """
    return Index(name, column, postgresql_using="gist", info={"dialect": "postgresql"}).ddl_if(
        dialect="postgresql"
    )
