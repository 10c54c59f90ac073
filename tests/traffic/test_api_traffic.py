"""Traffic export routes over HTTP on SQLite and PostgreSQL: roles, formats, streaming, 4xx on bad filters."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from shapely.geometry import Point

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import Camera, CameraRole, Site, SiteKind
from vigie.store.upsert import upsert_count_bins

SECRET = "traffic-api-tests-secret-" + "k" * 32
# 29 March 2026 in Paris: clocks go forward at 02:00, the local day is 23 hours from 23:00 UTC the day before.
DAY_START = datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
DAY_BINS = 23 * 4
CAR = [(i * 5) % 9 for i in range(DAY_BINS)]
HEAVY = [i % 3 for i in range(DAY_BINS)]


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def seeded(engine: sqlalchemy.Engine) -> None:
    with make_sessionmaker(engine)() as session:
        site = Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris")
        session.add(site)
        session.flush()
        camera = Camera(
            site_id=site.id, slug="north", name="Nord", role=CameraRole.TRAFFIC, location=Point(0.37, 49.76)
        )
        session.add(camera)
        session.flush()
        rows = []
        for i in range(DAY_BINS):
            start = DAY_START + timedelta(minutes=15 * i)
            for class_name, count in (("car", CAR[i]), ("heavy", HEAVY[i])):
                rows.append(
                    dict(
                        site_id=site.id,
                        camera_id=camera.id,
                        line="main",
                        direction="towards centre",
                        class_name=class_name,
                        period_start=start,
                        period_end=start + timedelta(minutes=15),
                        count=count,
                        partial=False,
                        model_name="coco-yolov4-tiny",
                        model_version="test",
                    )
                )
        upsert_count_bins(session, rows)
        session.commit()


def headers(engine: sqlalchemy.Engine, *roles: str) -> dict[str, str]:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="-".join(roles), roles=roles, secret=SECRET)
        session.commit()
    return {"Authorization": f"Bearer {clear}"}


COUNTS = "/api/v1/traffic/counts"
DAY = {"site": "fecamp", "from": "2026-03-29", "to": "2026-03-29"}


@pytest.mark.parametrize(("roles", "status"), [(("planner",), 200), (("admin",), 200), (("operator",), 403)])
def test_counts_need_the_planner_role(
    client: TestClient, engine: sqlalchemy.Engine, seeded: None, roles: tuple[str, ...], status: int
) -> None:
    assert client.get(COUNTS, params=DAY, headers=headers(engine, *roles)).status_code == status


def test_counts_without_token_is_401(client: TestClient, seeded: None) -> None:
    response = client.get(COUNTS, params=DAY)
    assert response.status_code == 401 and response.json()["error"] == "unauthenticated"


def test_long_csv_over_the_spring_change(client: TestClient, engine: sqlalchemy.Engine, seeded: None) -> None:
    response = client.get(COUNTS, params=DAY, headers=headers(engine, "planner"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert 'filename="counts-fecamp-20260329-20260329.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    cars = [r for r in rows if r["class"] == "car"]
    assert [int(r["count"]) for r in cars] == CAR
    assert cars[0]["period_start"] == "2026-03-29T00:00:00+01:00"
    # 01:45 CET is followed by 03:00 CEST: no 02:xx local time exists that day.
    assert (
        cars[7]["period_end"] == "2026-03-29T03:00:00+02:00"
        and cars[8]["period_start"] == cars[7]["period_end"]
    )
    assert not any("T02:" in r["period_start"] for r in rows)


def test_wide_hourly_json_and_geojson(client: TestClient, engine: sqlalchemy.Engine, seeded: None) -> None:
    auth = headers(engine, "planner")
    wide = client.get(
        COUNTS, params={**DAY, "format": "wide", "bin": "1h", "class": "car,heavy"}, headers=auth
    )
    assert wide.status_code == 200, wide.text
    rows = list(csv.DictReader(io.StringIO(wide.text)))
    assert len(rows) == 23
    assert [int(r["car"]) for r in rows] == [sum(CAR[h * 4 : h * 4 + 4]) for h in range(23)]
    assert [int(r["total"]) for r in rows] == [
        sum(CAR[h * 4 : h * 4 + 4]) + sum(HEAVY[h * 4 : h * 4 + 4]) for h in range(23)
    ]

    document = client.get(COUNTS, params={**DAY, "format": "json", "class": ["heavy"]}, headers=auth)
    assert document.headers["content-type"].startswith("application/json")
    assert [r["count"] for r in document.json()["counts"]] == HEAVY

    geo = client.get("/api/v1/traffic/sites.geojson", params=DAY, headers=auth)
    assert geo.status_code == 200 and geo.headers["content-type"].startswith("application/geo+json")
    (feature,) = geo.json()["features"]
    assert feature["properties"]["totals_by_class"]["car"] == sum(CAR)
    assert feature["properties"]["totals_by_direction"]["towards centre"]["heavy"] == sum(HEAVY)


@pytest.mark.parametrize(
    ("params", "status", "fragment"),
    [
        ({"site": "nowhere"}, 404, "site 'nowhere'"),
        ({**DAY, "from": "2026-03-30"}, 422, "is not before"),
        ({**DAY, "class": "truck"}, 422, "'truck': not a traffic class"),
        ({**DAY, "bin": "5"}, 422, "stored 15 min bins"),
        ({**DAY, "bin": "7"}, 422, "bin '7'"),
        ({**DAY, "camera": "east"}, 404, "camera 'east'"),
        ({**DAY, "format": "xlsx"}, 422, "format"),
    ],
)
def test_bad_filters_are_clear_4xx(
    client: TestClient,
    engine: sqlalchemy.Engine,
    seeded: None,
    params: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    response = client.get(COUNTS, params=params, headers=headers(engine, "planner"))
    assert response.status_code == status, response.text
    assert fragment in json.dumps(response.json())


def test_counts_page_is_served_with_its_assets(client: TestClient) -> None:
    page = client.get("/traffic/counts")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '"pedestrian"' in page.text and "/static/traffic/counts.js" in page.text
    assert client.get("/static/traffic/counts.js").status_code == 200
