"""Export bounds that fuzzing turned into 500s: dates at the ends of the calendar, shifted by the site's
time zone, are now a 422 naming the bound."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import Site, SiteKind

SECRET = "traffic-fuzz-tests-secret-" + "k" * 32
EXPORTS = ["counts", "zones", "od", "sites.geojson"]


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def planner(engine: sqlalchemy.Engine) -> dict[str, str]:
    with make_sessionmaker(engine)() as session:
        session.add(Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris"))
        _, clear = create_token(session, name="planner", roles=["planner"], secret=SECRET)
        session.commit()
    return {"Authorization": f"Bearer {clear}"}


@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("from", "0001-01-01"),  # its local midnight in Paris is before year 1 in UTC
        ("from", "0001-01-01T00:00:00"),  # local wall time, likewise
        ("to", "9999-12-31"),  # an upper date bound is the next day's midnight: year 10000
        ("to", "9999-12-31T23:59:59+00:00"),  # exists in UTC, not in Paris (exports show local times)
    ],
)
def test_bounds_at_the_ends_of_the_calendar_are_a_422(
    client: TestClient, planner: dict[str, str], export: str, name: str, value: str
) -> None:
    # Before: OverflowError in the bound's conversion, a 500 on every export.
    params = {"site": "fecamp", name: value}
    response = client.get(f"/api/v1/traffic/{export}", params=params, headers=planner)
    assert response.status_code == 422
    assert response.json() == {
        "error": "invalid_input",
        "detail": f"{name} {value!r}: too close to year 1 or 9999 for the site's time zone; "
        "expected a date such as 2026-11-28",
    }


@pytest.mark.parametrize("export", EXPORTS)
def test_bounds_near_the_ends_that_exist_still_work(
    client: TestClient, planner: dict[str, str], export: str
) -> None:
    params = {"site": "fecamp", "from": "0001-01-02", "to": "9999-12-30"}
    assert client.get(f"/api/v1/traffic/{export}", params=params, headers=planner).status_code == 200
