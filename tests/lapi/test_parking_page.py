"""The car-park page in headless Chromium: seeded sessions and reads appear in the chart and the table,
and a car park that keeps no clear text never shows a plate."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from vigie.api.app import create_app
from vigie.services.cameras import create_camera
from vigie.services.lapi_parking import PassageRead, create_car_park, record_passage
from vigie.services.lapi_schemas import CarParkIn
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_engine, make_sessionmaker, upgrade
from vigie.store.models import AuditLog, CameraRole, PlateFormat
from vigie.store.types import utcnow

SECRET = "lapi-page-tests-secret-" + "p" * 32
PURPOSE = "contrôle occupation test"

pytestmark = pytest.mark.browser

# Hashed-only car park: (plate, hours before now at entry, at exit or None). Plus one exit never entered.
HASHED_STAYS = [("AB-123-CD", 5.0, 2.0), ("EF-456-GH", 3.0, None), ("1234 AB 17", 1.0, None)]
UNMATCHED_EXIT = ("JK-789-LM", 0.5)
CLEAR_STAYS = [("QR-246-ST", 4.0, None)]  # a car park that keeps clear text


@dataclass
class Served:
    url: str
    token: str
    now: datetime
    engine_url: str


def _passage(text: str, at: datetime) -> PassageRead:
    fmt = PlateFormat.FNI if text[0].isdigit() else PlateFormat.SIV
    return PassageRead(text=text, format=fmt, confidence=0.95, read_at=at, box=(10, 10, 90, 30),
                       model_name="plate-yolov8n", model_version="test")  # fmt: skip


def seed(url: str) -> tuple[str, datetime]:
    now = utcnow()
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
        cams = {
            role: create_camera(session, site_id=site.id, data=CameraCreate(slug=role.value, name=role.value,
                                                                           role=role)).id
            for role in (CameraRole.ENTRY, CameraRole.EXIT)
        }  # fmt: skip
        for slug, name, clear, stays in (
            ("vieux-port", "Vieux-Port", False, HASHED_STAYS),
            ("minimes", "Les Minimes", True, CLEAR_STAYS),
        ):
            park = create_car_park(
                session,
                site_id=site.id,
                data=CarParkIn(slug=slug, name=name, capacity=10, store_clear_text=clear),
            )
            passages = [(CameraRole.ENTRY, plate, now - timedelta(hours=e)) for plate, e, _ in stays]
            passages += [(CameraRole.EXIT, plate, now - timedelta(hours=x)) for plate, _, x in stays if x]
            if not clear:
                passages.append(
                    (CameraRole.EXIT, UNMATCHED_EXIT[0], now - timedelta(hours=UNMATCHED_EXIT[1]))
                )
            for role, plate, at in sorted(passages, key=lambda p: p[2]):
                record_passage(session, camera_id=cams[role], car_park_id=park.id, role=role,
                               passage=_passage(plate, at), secret=SECRET)  # fmt: skip
        _, token = create_token(session, name="agent-parking", roles=["parking"], secret=SECRET)
        session.commit()
    engine.dispose()
    return token, now


@pytest.fixture
def served(tmp_path: Path, live_server) -> Iterator[Served]:
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    token, now = seed(url)
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=url, data_dir=tmp_path)
    with live_server(create_app(settings)) as base_url:
        yield Served(base_url, token, now, url)


def expected_inside(stays, now: datetime, at: datetime) -> int:
    return sum(
        1
        for _, e, x in stays
        if now - timedelta(hours=e) <= at and (x is None or at < now - timedelta(hours=x))
    )


def test_parking_page_shows_seeded_occupancy_and_sessions_without_hashed_plates(
    served: Served, chromium, tmp_path: Path
) -> None:
    context = chromium.new_context(
        viewport={"width": 1100, "height": 1200}, timezone_id="Europe/Paris", locale="fr-FR"
    )
    page = context.new_page()
    page.goto(f"{served.url}/lapi/parking")
    page.fill("#token", served.token)
    page.click("button[type=submit]")
    page.wait_for_selector("article.park svg rect.bar", state="attached")
    # Without a purpose: occupancy only, no session listed (plate data needs a purpose).
    assert page.locator("table.sessions").count() == 0

    page.fill("#purpose", PURPOSE)
    page.click("button[type=submit]")
    page.wait_for_selector("article.park[data-slug='vieux-port'] table.sessions")
    page.wait_for_selector("article.park[data-slug='minimes'] table.sessions")

    hashed = page.locator("article.park[data-slug='vieux-port']")
    bars = hashed.locator("rect.bar").evaluate_all(
        "rs => rs.map(r => [r.dataset.at, Number(r.dataset.occupied), Number(r.getAttribute('height'))])"
    )
    assert len(bars) == 49  # 24 h every 30 min, both ends
    for at, occupied, _ in bars:
        t = datetime.fromisoformat(at.replace("Z", "+00:00"))
        assert occupied == expected_inside(HASHED_STAYS, served.now, t), at
    assert max(o for _, o, _ in bars) == 2  # AB-123-CD and EF-456-GH overlapped
    heights = {o: h for _, o, h in bars}
    assert heights[0] == 0 and heights[2] == pytest.approx(2 * heights[1], rel=0.01)
    figures = hashed.locator(".figures b").all_inner_texts()
    assert figures[:3] == ["2", "8", "10"]  # inside now, free places, capacity

    rows = hashed.locator("table.sessions tbody tr").evaluate_all(
        "trs => trs.map(tr => [tr.dataset.status, ...[...tr.cells].map(c => c.textContent)])"
    )
    assert len(rows) == len(HASHED_STAYS) + 1
    statuses = sorted(r[0] for r in rows)
    assert statuses == ["closed", "flagged", "open", "open"]
    assert {r[1] for r in rows} == {"hashed only"}
    closed = next(r for r in rows if r[0] == "closed")
    assert closed[4] == "3 h 00" and closed[3] != "inside"

    clear_rows = page.locator("article.park[data-slug='minimes'] table.sessions tbody tr td.plate")
    assert clear_rows.all_inner_texts() == ["QR-246-ST"]

    # No hashed car park's plate anywhere on the page, in any form.
    html = page.content()
    text = page.inner_text("body")
    for plate in [p for p, _, _ in HASHED_STAYS] + [UNMATCHED_EXIT[0]]:
        compact = plate.replace("-", "").replace(" ", "")
        assert plate not in html and compact not in html and plate not in text, plate

    page.screenshot(path=str(tmp_path / "lapi-parking.png"), full_page=True)
    if os.environ.get("VIGIE_SCREENSHOT_DIR"):
        page.screenshot(
            path=str(Path(os.environ["VIGIE_SCREENSHOT_DIR"]) / "lapi-parking.png"), full_page=True
        )

    # Each session listing was audited with the token's name and the purpose typed on the page.
    engine = make_engine(served.engine_url)
    try:
        with make_sessionmaker(engine)() as session:
            audits = session.scalars(select(AuditLog).where(AuditLog.action == "lapi.sessions.list")).all()
            assert len(audits) == 2
            assert {(a.actor, a.purpose) for a in audits} == {("agent-parking", PURPOSE)}
    finally:
        engine.dispose()


def test_a_bad_token_is_reported(served: Served, chromium) -> None:
    page = chromium.new_page()
    page.goto(f"{served.url}/lapi/parking")
    page.fill("#token", "not-a-token")
    page.click("button[type=submit]")
    page.wait_for_selector("#status.error")
    assert "401" in page.inner_text("#status")
    assert page.locator("article.park").count() == 0
