"""The counts page in headless Chromium: choose a site and a day, the chart's bars are the seeded counts."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from vigie.api.app import create_app
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_engine, make_sessionmaker, upgrade
from vigie.store.models import Camera, CameraRole, Site, SiteKind
from vigie.store.upsert import upsert_count_bins

SECRET = "traffic-page-tests-secret-" + "k" * 32
DAY = "2026-11-27"
DAY_START = datetime(2026, 11, 26, 23, 0, tzinfo=UTC)  # local midnight in Paris (+01:00)
# (local hour, class, direction) → count per 15-min quarter, from 07:00 to 10:00 local.
PATTERN = {"car": (4, 7, 2, 5), "heavy": (1, 0, 2, 1), "bus": (0, 1, 0, 1)}
DIRECTIONS = ("towards centre", "outbound")

pytestmark = pytest.mark.browser


@dataclass
class Served:
    url: str
    token: str
    expected: dict[tuple[str, str], int]  # (local ISO period start, class) → count over both directions


def seed(url: str) -> tuple[str, dict[tuple[str, str], int]]:
    engine = make_engine(url)
    expected: dict[tuple[str, str], int] = {}
    with make_sessionmaker(engine)() as session:
        site = Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris")
        other = Site(slug="cap-sicie", name="Cap Sicié", kind=SiteKind.FIRE, timezone="Europe/Paris")
        session.add_all([site, other])
        session.flush()
        camera = Camera(site_id=site.id, slug="north", name="Nord", role=CameraRole.TRAFFIC)
        session.add(camera)
        session.flush()
        rows = []
        for quarter in range(12):  # 07:00–10:00 local
            start = DAY_START + timedelta(hours=7, minutes=15 * quarter)
            local = f"{DAY}T{7 + quarter // 4:02d}:{15 * (quarter % 4):02d}:00+01:00"
            for d, direction in enumerate(DIRECTIONS):
                for class_name, counts in PATTERN.items():
                    count = counts[(quarter + d) % 4] + quarter // 4
                    expected[(local, class_name)] = expected.get((local, class_name), 0) + count
                    rows.append(
                        dict(
                            site_id=site.id,
                            camera_id=camera.id,
                            line="main",
                            direction=direction,
                            class_name=class_name,
                            period_start=start,
                            period_end=start + timedelta(minutes=15),
                            count=count,
                            partial=False,
                            model_name="coco-yolov4-tiny",
                            model_version="test",
                        )
                    )
        # The next day's counts must not appear on the chosen day's chart.
        rows.append(
            {
                **rows[0],
                "period_start": start + timedelta(days=1),
                "period_end": start + timedelta(days=1, minutes=15),
            }
        )
        upsert_count_bins(session, rows)
        _, token = create_token(session, name="planner", roles=["planner"], secret=SECRET)
        session.commit()
    engine.dispose()
    return token, expected


@pytest.fixture
def served(tmp_path: Path, live_server) -> Iterator[Served]:
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    token, expected = seed(url)
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=url, data_dir=tmp_path)
    with live_server(create_app(settings)) as base_url:
        yield Served(base_url, token, expected)


def test_chart_bars_match_seeded_counts(served: Served, chromium, tmp_path: Path) -> None:
    page = chromium.new_page(viewport={"width": 1100, "height": 1000}, accept_downloads=True)
    page.goto(f"{served.url}/traffic/counts")
    page.fill("#token", served.token)
    page.press("#token", "Tab")  # `change` → the site list is loaded with the token
    page.wait_for_selector("#site option[value='fecamp']", state="attached")
    # Only traffic (and mixed) sites are offered.
    assert page.eval_on_selector_all("#site option", "os => os.map(o => o.value)") == ["fecamp"]
    page.select_option("#site", "fecamp")
    page.fill("#day", DAY)
    page.click("#show")
    page.wait_for_selector("#counts-chart rect.bar")

    bars = page.eval_on_selector_all(
        "#counts-chart rect.bar",
        """rs => rs.map(r => ({start: r.dataset.periodStart, cls: r.dataset.class,
            count: Number(r.dataset.count), height: Number(r.getAttribute('height'))}))""",
    )
    drawn = {(b["start"], b["cls"]): b["count"] for b in bars}
    assert drawn == {key: n for key, n in served.expected.items() if n > 0}
    # Bar heights are proportional to the counts (one scale for the whole chart).
    scales = {round(b["height"] / b["count"], 3) for b in bars}
    assert max(scales) - min(scales) < 0.01

    totals = page.eval_on_selector_all(
        "#totals tbody tr",
        "trs => trs.map(tr => [tr.dataset.class, Number(tr.lastChild.textContent)])",
    )
    totals_by_class = dict(totals)
    for class_name in ("car", "heavy", "bus"):
        expected_total = sum(n for (_, c), n in served.expected.items() if c == class_name)
        assert totals_by_class[class_name] == expected_total
    assert totals_by_class["pedestrian"] == 0

    page.screenshot(path=str(tmp_path / "traffic-counts.png"), full_page=True)
    if os.environ.get("VIGIE_SCREENSHOT_DIR"):
        page.screenshot(
            path=str(Path(os.environ["VIGIE_SCREENSHOT_DIR"]) / "traffic-counts.png"), full_page=True
        )

    with page.expect_download() as download_info:
        page.click("#downloads a[data-format='csv']")
    download = download_info.value
    assert download.suggested_filename == "counts-fecamp-20261127-20261127.csv"
    with open(download.path(), encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert sum(int(r["count"]) for r in rows) == sum(served.expected.values())


def test_a_bad_token_is_reported_on_the_page(served: Served, chromium) -> None:
    page = chromium.new_page()
    page.goto(f"{served.url}/traffic/counts")
    page.fill("#token", "not-a-token")
    page.press("#token", "Tab")
    page.wait_for_selector("#status.error")
    assert "401" in page.text_content("#status")
