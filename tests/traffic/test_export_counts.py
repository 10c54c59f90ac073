"""Count exports on SQLite and PostgreSQL: formats, filters, re-binning and DST-correct local times."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy
from shapely.geometry import Point
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError, NotFoundError
from vigie.services.traffic_exports import (
    LONG_COLUMNS,
    TRAFFIC_CLASSES,
    build_count_query,
    counting_sites_geojson,
    render_counts,
)
from vigie.store.models import Camera, CameraRole, CountBin, Site, SiteKind
from vigie.store.upsert import upsert_count_bins

# 25 October 2026 in Paris: 25 hours, local 02:00–03:00 twice. 00:00 CEST = 22:00 UTC the day before.
DAY_START = datetime(2026, 10, 24, 22, 0, tzinfo=UTC)
DAY_BINS = 100  # 25 h of 15-min bins
DIRECTIONS = ("towards centre", "outbound")
PARTIAL_INDEX = 41  # one 15-min bin marked partial (the stream dropped)


def seed(session: Session) -> list[dict[str, Any]]:
    """A traffic site with one counting camera (15-min bins over the DST day), a traffic camera without
    counts yet, and a lookout camera; returns the stored count rows."""
    site = Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris")
    session.add(site)
    session.flush()
    north = Camera(
        site_id=site.id, slug="north", name="Nord", role=CameraRole.TRAFFIC, location=Point(0.37, 49.76)
    )
    spare = Camera(site_id=site.id, slug="spare", name="Réserve", role=CameraRole.TRAFFIC)
    lookout = Camera(site_id=site.id, slug="tower", name="Tour", role=CameraRole.LOOKOUT)
    session.add_all([north, spare, lookout])
    session.flush()
    rows = []
    for i in range(DAY_BINS):
        start = DAY_START + timedelta(minutes=15 * i)
        for d, direction in enumerate(DIRECTIONS):
            for class_name, count in (("car", (i * 3 + d) % 7 + 1), ("bus", 1 if i % 4 == d else 0)):
                rows.append(
                    {
                        "site_id": site.id,
                        "camera_id": north.id,
                        "line": "main",
                        "direction": direction,
                        "class_name": class_name,
                        "period_start": start,
                        "period_end": start + timedelta(minutes=15),
                        "count": count,
                        "partial": i == PARTIAL_INDEX,
                        "model_name": "coco-yolov4-tiny",
                        "model_version": "test",
                    }
                )
    # A second line, one bin, to test the line filter.
    rows.append({**rows[0], "line": "side", "count": 5})
    upsert_count_bins(session, rows)
    session.flush()
    return rows


def export(session: Session, fmt: str = "csv", **filters: Any) -> str:
    return "".join(render_counts(session, build_count_query(session, site="fecamp", **filters), fmt))


def long_rows(text: str) -> list[dict[str, str]]:
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == LONG_COLUMNS
    return list(reader)


def test_long_csv_writes_local_times_with_offsets_across_the_autumn_change(session: Session) -> None:
    stored = seed(session)
    rows = long_rows(export(session, "csv", start="2026-10-25", end="2026-10-25", lines=["main"]))
    main = [r for r in stored if r["line"] == "main"]
    assert len(rows) == len(main)
    assert sum(int(r["count"]) for r in rows) == sum(r["count"] for r in main)
    starts = sorted({r["period_start"] for r in rows}, key=datetime.fromisoformat)
    assert len(starts) == DAY_BINS
    assert starts[0] == "2026-10-25T00:00:00+02:00"
    assert "2026-10-25T02:45:00+02:00" in starts and "2026-10-25T02:45:00+01:00" in starts
    assert (
        max(r["period_end"] for r in rows if r["period_end"].endswith("+01:00"))
        == "2026-10-26T00:00:00+01:00"
    )
    # Every exported local time is the stored UTC instant.
    exported = {
        (r["direction"], r["class"], datetime.fromisoformat(r["period_start"])): int(r["count"]) for r in rows
    }
    assert exported == {(r["direction"], r["class_name"], r["period_start"]): r["count"] for r in main}
    partial = {datetime.fromisoformat(r["period_start"]) for r in rows if r["partial"] == "true"}
    assert partial == {DAY_START + timedelta(minutes=15 * PARTIAL_INDEX)}


def test_hourly_rebinning_sums_quarters_and_propagates_partial(session: Session) -> None:
    stored = [r for r in seed(session) if r["line"] == "main"]
    rows = long_rows(
        export(session, "csv", start="2026-10-25", end="2026-10-25", lines=["main"], bin_minutes=60)
    )
    assert len({r["period_start"] for r in rows}) == 25  # the DST day has 25 local hours
    for row in rows:
        start = datetime.fromisoformat(row["period_start"])
        end = datetime.fromisoformat(row["period_end"])
        assert end - start == timedelta(hours=1)
        parts = [
            r
            for r in stored
            if r["direction"] == row["direction"]
            and r["class_name"] == row["class"]
            and start <= r["period_start"] < end
        ]
        assert len(parts) == 4
        assert int(row["count"]) == sum(p["count"] for p in parts)
        assert (row["partial"] == "true") == any(p["partial"] for p in parts)
    assert (
        sum(r["partial"] == "true" for r in rows) == len(DIRECTIONS) * 2
    )  # one hour, 2 directions × 2 classes


def test_day_bin_totals_the_25_hour_day(session: Session) -> None:
    stored = [r for r in seed(session) if r["line"] == "main"]
    rows = long_rows(
        export(session, "csv", start="2026-10-25", end="2026-10-25", lines="main", bin_minutes="day")
    )
    assert {(r["period_start"], r["period_end"]) for r in rows} == {
        ("2026-10-25T00:00:00+02:00", "2026-10-26T00:00:00+01:00")
    }
    for row in rows:
        expected = sum(
            r["count"]
            for r in stored
            if (r["direction"], r["class_name"]) == (row["direction"], row["class"])
        )
        assert int(row["count"]) == expected


def test_rebinning_finer_than_stored_is_refused(session: Session) -> None:
    seed(session)
    with pytest.raises(InvalidInputError, match="stored 15 min bins"):
        build_count_query(session, site="fecamp", bin_minutes=5)


def test_a_range_cutting_an_export_bin_marks_it_partial(session: Session) -> None:
    seed(session)
    rows = long_rows(
        export(session, "csv", start="2026-10-25T00:30", end="2026-10-25T03:00", lines="main", bin_minutes=60)
    )
    first = [r for r in rows if r["period_start"] == "2026-10-25T00:00:00+02:00"]
    assert first and all(r["partial"] == "true" for r in first)
    assert any(r["partial"] == "false" for r in rows)


def test_wide_csv_has_one_column_per_class(session: Session) -> None:
    stored = [r for r in seed(session) if r["line"] == "main"]
    text = export(session, "wide", lines="main", classes=["car,bus"])
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == [
        "site",
        "camera",
        "line",
        "direction",
        "period_start",
        "period_end",
        "car",
        "bus",
        "total",
        "partial",
    ]
    assert len(rows) == DAY_BINS * len(DIRECTIONS)
    for row in rows[:20]:
        start = datetime.fromisoformat(row["period_start"])
        cell = {
            r["class_name"]: r["count"]
            for r in stored
            if r["direction"] == row["direction"] and r["period_start"] == start
        }
        assert (int(row["car"]), int(row["bus"])) == (cell["car"], cell["bus"])
        assert int(row["total"]) == cell["car"] + cell["bus"]


def test_json_matches_long_csv(session: Session) -> None:
    seed(session)
    document = json.loads(export(session, "json", start="2026-10-25", end="2026-10-25", bin_minutes=60))
    assert (document["site"], document["timezone"], document["bin_minutes"]) == ("fecamp", "Europe/Paris", 60)
    assert document["from"] == "2026-10-25T00:00:00+02:00" and document["to"] == "2026-10-26T00:00:00+01:00"
    csv_rows = long_rows(export(session, "csv", start="2026-10-25", end="2026-10-25", bin_minutes=60))
    assert [
        {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in r.items()}
        for r in document["counts"]
    ] == csv_rows


def test_filters_on_class_line_and_camera(session: Session) -> None:
    seed(session)
    buses = long_rows(export(session, "csv", classes=["bus"]))
    assert buses and {r["class"] for r in buses} == {"bus"}
    side = long_rows(export(session, "csv", lines=["side"], camera="north"))
    assert [(r["line"], r["count"]) for r in side] == [("side", "5")]
    assert long_rows(export(session, "csv", camera="spare")) == []


@pytest.mark.parametrize(
    ("filters", "error", "message"),
    [
        ({"site": "nowhere"}, NotFoundError, "site 'nowhere'"),
        ({"site": "fecamp", "camera": "east"}, NotFoundError, "camera 'east'"),
        ({"site": "fecamp", "classes": ["truck"]}, InvalidInputError, "'truck': not a traffic class"),
        ({"site": "fecamp", "start": "2026-10-26", "end": "2026-10-25"}, InvalidInputError, "is not before"),
        ({"site": "fecamp", "start": "yesterday"}, InvalidInputError, "from 'yesterday'"),
    ],
)
def test_bad_filters_are_named(
    session: Session, filters: dict[str, Any], error: type[Exception], message: str
) -> None:
    seed(session)
    with pytest.raises(error, match=message):
        build_count_query(session, **filters)


def test_geojson_totals_per_camera_direction_and_class(session: Session) -> None:
    stored = seed(session)
    collection = counting_sites_geojson(session, site="fecamp", start="2026-10-25", end="2026-10-25")
    features = {f["properties"]["camera"]: f for f in collection["features"]}
    assert set(features) == {"north", "spare"}  # the lookout camera counts nothing
    north = features["north"]
    assert north["geometry"] == {"type": "Point", "coordinates": [0.37, 49.76]}
    assert north["properties"]["lines"] == ["main", "side"]
    for direction in DIRECTIONS:
        for class_name in TRAFFIC_CLASSES:
            expected = sum(
                r["count"] for r in stored if (r["direction"], r["class_name"]) == (direction, class_name)
            )
            assert north["properties"]["totals_by_direction"][direction][class_name] == expected
    assert north["properties"]["total"] == sum(r["count"] for r in stored)
    assert features["spare"]["geometry"] is None and features["spare"]["properties"]["total"] == 0
    empty = counting_sites_geojson(session, start="2026-11-01", end="2026-11-02")
    assert [f["properties"]["total"] for f in empty["features"]] == [0, 0]


def test_an_unwatched_quarter_makes_its_hour_partial(session: Session) -> None:
    # The pipeline writes a row (zero included) for every watched period: a missing one was not watched.
    seed(session)
    gap = DAY_START + timedelta(minutes=15 * 9)  # 02:15 CEST, inside the first of the two 02:00 hours
    session.execute(
        sqlalchemy.delete(CountBin).where(
            CountBin.period_start == gap, CountBin.class_name == "car", CountBin.direction == "outbound"
        )
    )
    rows = long_rows(export(session, "csv", lines="main", bin_minutes=60))
    partial = {(r["period_start"], r["direction"], r["class"]) for r in rows if r["partial"] == "true"}
    assert ("2026-10-25T02:00:00+02:00", "outbound", "car") in partial
    assert ("2026-10-25T02:00:00+02:00", "outbound", "bus") not in partial
    assert ("2026-10-25T02:00:00+01:00", "outbound", "car") not in partial
