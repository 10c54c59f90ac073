"""Inputs of the parking API that fuzzing turned into 500s: each is now a clear 4xx (or, inside an imported
file, a rejected row) naming the input."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.services.schemas import SiteCreate
from vigie.services.sites import create_site
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker

SECRET = "lapi-fuzz-tests-secret-" + "a" * 32
Headers = dict[str, str]


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def parking(engine: sqlalchemy.Engine) -> Headers:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="agent", roles=["parking"], secret=SECRET)
        session.commit()
    return {"Authorization": f"Bearer {clear}"}


@pytest.fixture
def car_park(client: TestClient, parking: Headers, engine: sqlalchemy.Engine) -> int:
    with make_sessionmaker(engine)() as session:
        site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
        session.commit()
        site_id = site.id
    body = {"site_id": site_id, "slug": "vp", "name": "Vieux-Port", "capacity": 10}
    response = client.post("/api/v1/lapi/car-parks", json=body, headers=parking)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _locs(response) -> list[list]:
    body = response.json()
    assert body["error"] == "validation_error", body
    return [item["loc"] for item in body["detail"]]


@pytest.mark.parametrize("path", ["/api/v1/lapi/reads", "/api/v1/lapi/car-parks/{id}/sessions"])
@pytest.mark.parametrize("purpose", ["   ", "a \r"])
def test_a_purpose_blank_once_stripped_is_a_422_on_the_query(
    client: TestClient, parking: Headers, car_park: int, path: str, purpose: str
) -> None:
    # Before: the query passed min_length=3, the search model stripped it and refused it: a 500.
    response = client.get(path.format(id=car_park), params={"purpose": purpose}, headers=parking)
    assert response.status_code == 422
    assert _locs(response) == [["query", "purpose"]]
    assert purpose not in response.text  # the submitted value is not echoed


def test_a_subscriber_id_past_the_database_integers_is_a_422(
    client: TestClient, parking: Headers, car_park: int
) -> None:
    url = f"/api/v1/lapi/car-parks/{car_park}/subscribers/{2**63}"
    response = client.get(url, params={"purpose": "check"}, headers=parking)
    assert response.status_code == 422
    assert _locs(response) == [["path", "subscriber_id"]]


def test_occupancy_refuses_an_end_too_early_and_a_step_too_small(
    client: TestClient, parking: Headers, car_park: int
) -> None:
    url = f"/api/v1/lapi/car-parks/{car_park}/occupancy"
    # Before: the default start (end - 24 h) overflowed: a 500.
    response = client.get(url, params={"end": "0001-01-01T00:00:00Z"}, headers=parking)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_input",
        "detail": "end 0001-01-01T00:00:00+00:00: too early to go 24 h back; give start",
    }
    # Before: the number of points was infinite, and int() of it a 500.
    response = client.get(url, params={"step_s": 5e-324}, headers=parking)
    assert response.status_code == 422
    assert "at most 2000 points" in response.json()["detail"]
    assert "expected at least 43.2216 s" in response.json()["detail"]  # 24 h over 1999 steps


def test_lapi_times_that_leave_the_calendar_in_utc_are_a_422(
    client: TestClient, parking: Headers, car_park: int
) -> None:
    params = {"purpose": "check", "since": "0001-01-01T00:00:00+01:00"}
    response = client.get("/api/v1/lapi/reads", params=params, headers=parking)
    assert response.status_code == 422
    assert _locs(response) == [["query", "since"]]
    body = {"plate": "AB-123-CD", "valid_from": "9999-12-31T23:00:00-05:00"}
    url = f"/api/v1/lapi/car-parks/{car_park}/subscribers"
    response = client.post(url, params={"purpose": "check"}, json=body, headers=parking)
    assert response.status_code == 422
    assert _locs(response) == [["body", "valid_from"]]


def _import(client: TestClient, headers: Headers, car_park: int, text: str):
    return client.post(
        f"/api/v1/lapi/car-parks/{car_park}/subscribers/import",
        params={"purpose": "yearly import"},
        content=text.encode(),
        headers=headers | {"Content-Type": "text/csv"},
    )


def test_an_import_cell_over_the_csv_size_limit_is_a_422(
    client: TestClient, parking: Headers, car_park: int
) -> None:
    # Before: csv.Error ("field larger than field limit") escaped: a 500.
    response = _import(client, parking, car_park, 'plate,valid_from\n"AB' + "C" * 200_000 + '",2026-01-01\n')
    assert response.status_code == 422
    assert response.json()["detail"].startswith("subscriber file line 2: not readable as CSV (field larger")


def test_import_dates_at_the_ends_of_the_calendar_are_rejected_rows(
    client: TestClient, parking: Headers, car_park: int
) -> None:
    # Before: local midnight of 0001-01-01 in Paris is before year 1 in UTC, and the day after 9999-12-31
    # does not exist: OverflowError, a 500 for the whole file.
    text = (
        "plate,valid_from,valid_to\n"
        "AB-123-CD,0001-01-01,\n"
        "AB-124-CD,2026-01-01,9999-12-31\n"
        "AB-125-CD,2026-01-01,2026-12-31\n"
    )
    response = _import(client, parking, car_park, text)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["imported"] == 1
    reasons = {row["line"]: row["reason"] for row in report["rejected"]}
    assert reasons == {
        2: "'0001-01-01' is too close to year 1 or 9999 to be stored",
        3: "'9999-12-31' is too close to year 1 or 9999 to be stored; "
        "leave valid_to empty for an open-ended subscription",
    }
