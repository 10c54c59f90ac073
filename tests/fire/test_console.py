"""The live fire alert console in headless Chromium, against the real app served by uvicorn.

An alert written the way a worker writes it (the pipeline's `upsert_alert` in another session, or
`POST /alerts/ingest` with a worker token) must appear on the open page within 2 s without a reload; the
buttons must change the database; camera health and the offline map must show what the database holds.
Set VIGIE_SCREENSHOT_DIR to keep the screenshot the first test takes.
"""

from __future__ import annotations

import base64
import io
import os
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from PIL import Image, ImageDraw, ImageFilter
from pyproj import Geod
from sqlalchemy import select

from vigie.api import pages_fire
from vigie.api.app import create_app
from vigie.calibration.bearing import Bearing
from vigie.calibration.triangulation import Observation, localise
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_engine, make_sessionmaker, upgrade
from vigie.store.models import Alert, AlertStatus, CameraHealth, CameraState

playwright_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--disable-component-update",
    "--no-first-run",
]
SECRET = "console-tests-secret-" + "s" * 32
APPEAR_WITHIN_MS = 2000  # the requirement: a new alert is on screen within 2 s
GEOD = Geod(ellps="WGS84")
RED = "rgb(255, 77, 79)"  # --red of console.css

# Three lookouts in the Sarthe (synthetic positions); the fire lies between the first two.
CAMERAS = {
    "nord": {"name": "Vigie Nord", "longitude": 0.20, "latitude": 48.10, "heading_deg": 120.0},
    "sud": {"name": "Vigie Sud", "longitude": 0.30, "latitude": 47.95, "heading_deg": 20.0},
    "est": {"name": "Vigie Est", "longitude": 0.45, "latitude": 48.05, "heading_deg": 260.0},
}
FIRE_LONLAT = (0.33, 48.05)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason=f"{CHROMIUM} is not installed (apt-get install chromium)"
    ),
]


@dataclass
class LiveApp:
    base_url: str
    engine: sqlalchemy.Engine
    data_dir: Path
    operator_token: str
    worker_token: str
    camera_ids: dict[str, int]
    site_id: int
    tile_requests: list[str]


def _seed(engine: sqlalchemy.Engine) -> tuple[int, dict[str, int], str, str]:
    """A fire site, three lookout cameras with health (up / down / stale), an operator and a worker token."""
    now = datetime.now(UTC)
    with make_sessionmaker(engine)() as session:
        site = create_site(session, data=SiteCreate(slug="sarthe", name="Sarthe", kind="fire"))
        from vigie.services.cameras import create_camera, record_camera_health

        ids = {}
        for slug, spec in CAMERAS.items():
            camera = create_camera(
                session,
                site_id=site.id,
                data=CameraCreate(slug=slug, role="lookout", hfov_deg=54.0, elevation_m=180.0, **spec),
            )
            ids[slug] = camera.id
        # nord streams; sud was down at its last report; est reports "up" but its last frame is 10 min old.
        record_camera_health(session, camera_id=ids["nord"], health={"state": "up", "last_frame_at": now})
        record_camera_health(
            session,
            camera_id=ids["sud"],
            health={"state": "down", "last_frame_at": now - timedelta(minutes=1), "last_error": "timeout"},
        )
        record_camera_health(
            session,
            camera_id=ids["est"],
            health={"state": "up", "last_frame_at": now - timedelta(minutes=10)},
        )
        _, operator = create_token(session, name="console-operator", roles=["operator"], secret=SECRET)
        _, worker = create_token(session, name="console-worker", roles=["worker"], secret=SECRET)
        session.commit()
        return site.id, ids, operator, worker


def _tile_route(app: Any, requests: list[str]) -> None:
    """A stand-in tile server inside the app: records which z/x/y the page asks for, answers a PNG
    labelled with its z/x/y (checkered, so that misplaced tiles show on a screenshot)."""
    from fastapi import Response

    @app.get("/test-tiles/{z}/{x}/{y}.png", include_in_schema=False)
    def tile(z: int, x: int, y: int) -> Response:
        requests.append(f"{z}/{x}/{y}")
        image = Image.new("RGB", (256, 256), (50, 62, 72) if (x + y) % 2 else (70, 82, 92))
        ImageDraw.Draw(image).text((8, 8), f"{z}/{x}/{y}", fill=(200, 200, 200))
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png")


def _serve(tmp: Path, live_server: Callable[..., Any], *, tile_url: str | None = None) -> Iterator[LiveApp]:
    url = f"sqlite:///{(tmp / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    site_id, camera_ids, operator, worker = _seed(engine)
    settings = Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET,
        database_url=url,
        data_dir=tmp,
        bootstrap_admin_token=None,
        tile_url=tile_url,
    )
    app = create_app(settings, engine=engine)
    tile_requests: list[str] = []
    _tile_route(app, tile_requests)
    with live_server(app) as base_url:
        yield LiveApp(
            base_url=base_url,
            engine=engine,
            data_dir=tmp,
            operator_token=operator,
            worker_token=worker,
            camera_ids=camera_ids,
            site_id=site_id,
            tile_requests=tile_requests,
        )
    engine.dispose()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, live_server: Callable[..., Any]) -> Iterator[LiveApp]:
    yield from _serve(tmp_path_factory.mktemp("console"), live_server)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# Counts the oscillators the page starts, to observe the audible cue without listening to it.
COUNT_BEEPS = """
(() => {
  window.__oscillatorsStarted = 0;
  const original = OscillatorNode.prototype.start;
  OscillatorNode.prototype.start = function (...args) {
    window.__oscillatorsStarted += 1;
    return original.apply(this, args);
  };
})();
"""


@pytest.fixture
def open_console(browser: Any) -> Iterator[Callable[[LiveApp], Any]]:
    """Opens the console of an app in a fresh browser context and logs in with its operator token.

    Uncaught script errors of the page fail the test.
    """
    contexts = []
    errors: list[str] = []

    def open_(app: LiveApp, *, token: str | None = None) -> Any:
        context = browser.new_context(viewport={"width": 1680, "height": 1050}, locale="fr-FR")
        context.add_init_script(COUNT_BEEPS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{app.base_url}{pages_fire.CONSOLE_PATH}")
        page.fill("#token-input", token or app.operator_token)
        page.click("#token-form button[type=submit]")
        playwright_api.expect(page.locator("#stream-state")).to_have_attribute(
            "data-state", "live", timeout=10000
        )
        return page

    yield open_
    for context in contexts:
        context.close()
    assert errors == [], f"uncaught errors in the console page: {errors}"


def _frame_jpeg(path: Path, box: tuple[int, int, int, int]) -> None:
    """A synthetic 1280×720 lookout frame: sky, two ridges, a grey plume inside `box`."""
    image = Image.new("RGB", (1280, 720))
    draw = ImageDraw.Draw(image)
    for y in range(720):
        shade = int(150 + 80 * y / 720)
        draw.line([(0, y), (1280, y)], fill=(shade - 60, shade - 25, shade))
    draw.polygon(
        [(0, 470), (300, 420), (640, 455), (980, 400), (1280, 440), (1280, 720), (0, 720)], fill=(70, 90, 60)
    )
    draw.polygon([(0, 560), (420, 520), (900, 560), (1280, 530), (1280, 720), (0, 720)], fill=(45, 62, 40))
    plume = Image.new("L", image.size, 0)
    x1, y1, x2, y2 = box
    ImageDraw.Draw(plume).ellipse((x1 + 5, y1, x2 - 5, y2 + 30), fill=170)
    plume = plume.filter(ImageFilter.GaussianBlur(9))
    image.paste(Image.new("RGB", image.size, (205, 205, 200)), mask=plume)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format="JPEG", quality=88)


def _bearing_to(
    camera: dict[str, Any], camera_id: int, slug: str, target: tuple[float, float]
) -> dict[str, Any]:
    azimuth, _, distance = GEOD.inv(camera["longitude"], camera["latitude"], *target)
    azimuth %= 360.0
    return {
        "camera_id": camera_id,
        "camera": slug,
        "azimuth_deg": round(azimuth, 2),
        "left_deg": round((azimuth - 1.5) % 360.0, 2),
        "right_deg": round((azimuth + 1.5) % 360.0, 2),
        "range_m": 25000.0,
        "seen_at": datetime.now(UTC).isoformat(),
        "_distance_m": distance,
    }


def _alert_row(app: LiveApp, public_id: str) -> Alert:
    with make_sessionmaker(app.engine)() as session:
        row = session.scalar(select(Alert).where(Alert.public_id == public_id))
        assert row is not None, f"alert {public_id} is not in the database"
        row.events  # noqa: B018 - load the history before the session closes
        session.expunge(row)
        return row


def _french(value: float, digits: int) -> str:
    """How the page prints numbers (fr-FR: decimal comma)."""
    return f"{value:.{digits}f}".replace(".", ",")


def test_alert_from_the_pipeline_appears_live_and_the_buttons_change_the_database(
    live: LiveApp, open_console: Callable[..., Any], tmp_path: Path
) -> None:
    from vigie.services.fire_alerts import AlertDraft, upsert_alert

    page = open_console(live)
    playwright_api.expect(page.locator("#alerts-empty")).to_be_visible()
    # Logging in was a user gesture: sound is unlocked, and nothing has beeped yet.
    playwright_api.expect(page.locator("#sound-toggle")).to_have_attribute("data-sound", "on")
    assert page.evaluate("window.__oscillatorsStarted") == 0

    # Two cameras see the plume: the pipeline triangulates and writes the alert in its own session.
    bearings = [
        _bearing_to(CAMERAS[slug], live.camera_ids[slug], slug, FIRE_LONLAT) for slug in ("nord", "sud")
    ]
    located = localise(
        [
            Observation(
                camera=b["camera"],
                longitude=CAMERAS[b["camera"]]["longitude"],
                latitude=CAMERAS[b["camera"]]["latitude"],
                bearing=Bearing(b["azimuth_deg"], b["left_deg"], b["right_deg"]),
            )
            for b in bearings
        ]
    )
    assert located.point is not None and located.uncertainty is not None
    for bearing in bearings:
        bearing.pop("_distance_m")
    box = (380, 300, 460, 372)
    frame_path = f"fire/frames/{uuid.uuid4().hex}.jpg"
    _frame_jpeg(live.data_dir / frame_path, box)
    public_id = f"test-{uuid.uuid4().hex[:12]}"
    now = datetime.now(UTC)
    draft = AlertDraft(
        public_id=public_id,
        site_id=live.site_id,
        kind="smoke",
        first_seen_at=now - timedelta(seconds=40),
        last_seen_at=now,
        model_name="fire-smoke-yolov8",
        model_version="test",
        location=(located.point.x, located.point.y),
        uncertainty=located.uncertainty,
        bearings=bearings,
        cameras=[b["camera_id"] for b in bearings],
        confidence=0.87,
        calibration_version="cal-test",
        frame_path=frame_path,
        frame_box=box,
        frame_camera_id=live.camera_ids["nord"],
    )
    with make_sessionmaker(live.engine)() as session:
        alert, created = upsert_alert(session, alert=draft)
        session.commit()
        alert_id = alert.id
    assert created

    card = page.locator(f'.alert-card[data-public-id="{public_id}"]')
    playwright_api.expect(card).to_be_visible(timeout=APPEAR_WITHIN_MS)
    playwright_api.expect(card).to_have_attribute("data-status", "new")
    playwright_api.expect(card.locator(".kind-badge")).to_have_text("Fumée")
    # Audible cue (three two-tone pulses) and visual cue: the card flashes and the banner names the alert.
    page.wait_for_function("window.__oscillatorsStarted >= 6", timeout=5000)
    playwright_api.expect(card).to_have_class(_contains("is-fresh"))
    playwright_api.expect(page.locator("#new-alert-banner")).to_contain_text(f"#{alert_id}")
    # Bearings, position in WGS84 and Lambert-93 as the page prints them.
    nord = bearings[0]
    playwright_api.expect(card.locator(".f-bearings")).to_contain_text(
        f"Vigie Nord : {_french(nord['azimuth_deg'], 1)}°"
    )
    playwright_api.expect(card.locator(".f-lonlat")).to_contain_text(f"{_french(located.point.y, 5)}° N")
    assert located.point_l93 is not None
    x_l93 = f"{round(located.point_l93[0]):,}".replace(",", "\u202f")
    playwright_api.expect(card.locator(".f-l93")).to_contain_text(x_l93)
    playwright_api.expect(card.locator(".f-cameras")).to_have_text("Vigie Nord, Vigie Sud")
    # The frame is loaded and the box overlay sits on the detection's pixels.
    playwright_api.expect(card.locator(".frame-img")).to_have_attribute("src", _contains("blob:"))
    page.wait_for_function(
        "el => el.complete && el.naturalWidth === 1280", arg=card.locator(".frame-img").element_handle()
    )
    rect = card.locator(".frame-overlay .frame-box")
    assert [float(rect.get_attribute(name) or "nan") for name in ("x", "y", "width", "height")] == [
        box[0],
        box[1],
        box[2] - box[0],
        box[3] - box[1],
    ]
    assert card.locator(".frame-overlay").get_attribute("viewBox") == "0 0 1280 720"
    # The ×3 inset shows the box's surroundings, in the top corner away from the box (box left of centre).
    inset = card.locator(".frame-zoom")
    playwright_api.expect(inset).to_be_visible()
    img_box = card.locator(".frame-img").bounding_box()
    inset_box = inset.bounding_box()
    assert img_box and inset_box and inset_box["x"] > img_box["x"] + img_box["width"] / 2
    # The drawn box lands on the detection's pixels of the displayed image (the overlay is not stretched).
    drawn = rect.bounding_box()
    scale = img_box["width"] / 1280
    assert drawn is not None
    # (centres and sizes; the 3 px stroke may count in the bounding box)
    assert abs(drawn["x"] + drawn["width"] / 2 - (img_box["x"] + (box[0] + box[2]) / 2 * scale)) < 2
    assert abs(drawn["y"] + drawn["height"] / 2 - (img_box["y"] + (box[1] + box[3]) / 2 * scale)) < 2
    assert abs(drawn["height"] - (box[3] - box[1]) * scale) <= 4
    # The map: two cones and bearing lines, the triangulated point and its uncertainty polygon.
    svg = page.locator("#fire-map")
    playwright_api.expect(svg.locator(f'.alert-cone[data-alert-id="{alert_id}"]')).to_have_count(2)
    playwright_api.expect(svg.locator(f'.bearing-line[data-alert-id="{alert_id}"]')).to_have_count(2)
    playwright_api.expect(svg.locator(f'.alert-point[data-alert-id="{alert_id}"]')).to_have_count(1)
    playwright_api.expect(svg.locator(f'.alert-uncertainty[data-alert-id="{alert_id}"]')).to_have_count(1)
    _assert_point_between_cameras(page, alert_id, live)

    screenshot_dir = Path(os.environ.get("VIGIE_SCREENSHOT_DIR", tmp_path))
    screenshot_dir.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot_dir / "fire_console.png"), full_page=True)

    # Operator: acknowledge, then label as a false alarm with a note.
    card.locator("button.act-ack").click()
    playwright_api.expect(card).to_have_attribute("data-status", "acknowledged")
    row = _alert_row(live, public_id)
    assert row.status == AlertStatus.ACKNOWLEDGED
    assert [(e.from_status, e.to_status) for e in row.events] == [
        (None, AlertStatus.NEW),
        (AlertStatus.NEW, AlertStatus.ACKNOWLEDGED),
    ]
    assert "console-operator" in row.events[-1].actor
    playwright_api.expect(card).not_to_have_class(_contains("is-fresh"))
    playwright_api.expect(card.locator("button.act-ack")).to_be_disabled()

    card.locator("input.note").fill("nuage bas sur la crête")
    card.locator("button.act-false").click()
    playwright_api.expect(card).to_have_attribute("data-status", "false_alarm")
    row = _alert_row(live, public_id)
    assert row.status == AlertStatus.FALSE_ALARM
    assert [(e.from_status, e.to_status) for e in row.events][-1] == (
        AlertStatus.ACKNOWLEDGED,
        AlertStatus.FALSE_ALARM,
    )
    assert row.events[-1].note == "nuage bas sur la crête"
    # A false alarm is no longer active: the card leaves the list, and its cones leave the map.
    playwright_api.expect(card).to_have_count(0, timeout=10000)
    playwright_api.expect(svg.locator(f'.alert-cone[data-alert-id="{alert_id}"]')).to_have_count(0)


def _assert_point_between_cameras(page: Any, alert_id: int, live: LiveApp) -> None:
    """The triangulated point is drawn east of Vigie Nord, west of Vigie Est, north of Vigie Sud."""

    def centre(selector: str) -> tuple[float, float]:
        box = page.locator(selector).first.bounding_box()
        assert box is not None, selector
        return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2

    point = centre(f'#fire-map .alert-point[data-alert-id="{alert_id}"] circle')
    nord = centre(f'#fire-map .camera-mark[data-camera-id="{live.camera_ids["nord"]}"] circle')
    sud = centre(f'#fire-map .camera-mark[data-camera-id="{live.camera_ids["sud"]}"] circle')
    est = centre(f'#fire-map .camera-mark[data-camera-id="{live.camera_ids["est"]}"] circle')
    assert nord[0] < point[0] < est[0]
    assert point[1] < sud[1]  # screen y grows southwards


def test_alert_posted_by_a_remote_worker_appears_with_its_bearing_line(
    live: LiveApp, open_console: Callable[..., Any]
) -> None:
    page = open_console(live)
    bearing = _bearing_to(CAMERAS["est"], live.camera_ids["est"], "est", FIRE_LONLAT)
    bearing.pop("_distance_m")
    buffer = io.BytesIO()
    Image.new("RGB", (640, 360), (120, 140, 170)).save(buffer, format="JPEG")
    now = datetime.now(UTC)
    body = {
        "public_id": f"remote-{uuid.uuid4().hex[:12]}",
        "site_id": live.site_id,
        "kind": "fire",
        "first_seen_at": (now - timedelta(seconds=30)).isoformat(),
        "last_seen_at": now.isoformat(),
        "bearings": [bearing],
        "cameras": [live.camera_ids["est"]],
        "confidence": 0.64,
        "model_name": "fire-smoke-yolov8",
        "model_version": "test",
        "frame_jpeg_base64": base64.b64encode(buffer.getvalue()).decode(),
        "frame_box": [300, 150, 340, 200],
        "frame_camera_id": live.camera_ids["est"],
    }
    response = httpx.post(
        f"{live.base_url}/api/v1/alerts/ingest",
        json=body,
        headers={"Authorization": f"Bearer {live.worker_token}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    alert_id = response.json()["id"]

    card = page.locator(f'.alert-card[data-alert-id="{alert_id}"]')
    playwright_api.expect(card).to_be_visible(timeout=APPEAR_WITHIN_MS)
    playwright_api.expect(card.locator(".kind-badge")).to_have_text("Flammes")
    # One camera: no position, the bearing line up to its range.
    playwright_api.expect(card.locator(".f-lonlat")).to_contain_text("une seule caméra")
    playwright_api.expect(card.locator(".f-bearings")).to_contain_text("Vigie Est")
    svg = page.locator("#fire-map")
    playwright_api.expect(svg.locator(f'.bearing-line[data-alert-id="{alert_id}"]')).to_have_count(1)
    playwright_api.expect(svg.locator(f'.alert-cone[data-alert-id="{alert_id}"]')).to_have_count(1)
    playwright_api.expect(svg.locator(f'.alert-point[data-alert-id="{alert_id}"]')).to_have_count(0)

    # Confirm, then close: the database follows and the closed alert leaves the console.
    card.locator("button.act-confirm").click()
    playwright_api.expect(card).to_have_attribute("data-status", "confirmed")
    assert _alert_row(live, body["public_id"]).status == AlertStatus.CONFIRMED
    card.locator("button.act-close").click()
    playwright_api.expect(card).to_have_count(0, timeout=10000)
    row = _alert_row(live, body["public_id"])
    assert row.status == AlertStatus.CLOSED
    assert [e.to_status for e in row.events] == [AlertStatus.NEW, AlertStatus.CONFIRMED, AlertStatus.CLOSED]


def test_a_camera_without_heading_shows_an_unknown_bearing_and_draws_nothing(
    live: LiveApp, open_console: Callable[..., Any], tmp_path: Path
) -> None:
    page = open_console(live)
    known = _bearing_to(CAMERAS["est"], live.camera_ids["est"], "est", FIRE_LONLAT)
    known.pop("_distance_m")
    now = datetime.now(UTC)
    unknown = {"camera_id": live.camera_ids["sud"], "camera": "sud", "azimuth_deg": None,
               "reason": "camera has no heading", "seen_at": now.isoformat()}  # fmt: skip
    body = {
        "public_id": f"no-heading-{uuid.uuid4().hex[:12]}",
        "site_id": live.site_id,
        "kind": "smoke",
        "first_seen_at": (now - timedelta(seconds=30)).isoformat(),
        "last_seen_at": now.isoformat(),
        "bearings": [known, unknown],
        "cameras": [live.camera_ids["est"], live.camera_ids["sud"]],
        "confidence": 0.5,
        "model_name": "fire-smoke-yolov8",
        "model_version": "test",
    }
    response = httpx.post(
        f"{live.base_url}/api/v1/alerts/ingest",
        json=body,
        headers={"Authorization": f"Bearer {live.worker_token}"},
        timeout=10,
    )
    assert response.status_code in (200, 201), response.text
    alert_id = response.json()["id"]

    card = page.locator(f'.alert-card[data-alert-id="{alert_id}"]')
    playwright_api.expect(card).to_be_visible(timeout=APPEAR_WITHIN_MS)
    sud_line = card.locator(f'.f-bearings .bearing[data-camera-id="{live.camera_ids["sud"]}"]')
    expected = f"{CAMERAS['sud']['name']} : relèvement inconnu : caméra sans cap"
    playwright_api.expect(sud_line).to_have_text(expected)
    playwright_api.expect(sud_line).to_have_class(re.compile(r"\bbearing-unknown\b"))
    est_line = card.locator(f'.f-bearings .bearing[data-camera-id="{live.camera_ids["est"]}"]')
    playwright_api.expect(est_line).to_contain_text(f"{_french(known['azimuth_deg'], 1)}°")
    # One usable bearing: still "one camera", not "cones without intersection".
    playwright_api.expect(card.locator(".f-lonlat")).to_contain_text("une seule caméra")
    # The map draws only the camera with a heading: one line, one cone, none for the camera without.
    svg = page.locator("#fire-map")
    playwright_api.expect(svg.locator(f'.bearing-line[data-alert-id="{alert_id}"]')).to_have_count(1)
    playwright_api.expect(svg.locator(f'.alert-cone[data-alert-id="{alert_id}"]')).to_have_count(1)
    drawn = svg.locator(f'[data-alert-id="{alert_id}"][data-camera-id="{live.camera_ids["sud"]}"]')
    playwright_api.expect(drawn).to_have_count(0)
    card.screenshot(path=str(tmp_path / "card-no-heading.png"))
    # Tidy up for the other tests of this module (they share the live app).
    card.locator("button.act-close").click()
    playwright_api.expect(card).to_have_count(0, timeout=10000)


def test_health_panel_shows_down_and_silent_cameras_in_red_and_the_map_draws_cameras(
    live: LiveApp, open_console: Callable[..., Any]
) -> None:
    page = open_console(live)
    rows = page.locator("#health-rows tr.health-row")
    playwright_api.expect(rows).to_have_count(3)
    expected = {"nord": "up", "sud": "down", "est": "down"}  # est: "up" but no frame for 10 min
    for slug, health in expected.items():
        row = page.locator(f'#health-rows tr[data-camera-id="{live.camera_ids[slug]}"]')
        playwright_api.expect(row).to_have_attribute("data-health", health)
        playwright_api.expect(row).to_contain_text(CAMERAS[slug]["name"])
        color = row.evaluate("el => getComputedStyle(el).color")
        assert (color == RED) == (health == "down"), f"{slug}: {color}"
    playwright_api.expect(
        page.locator(f'#health-rows tr[data-camera-id="{live.camera_ids["est"]}"]')
    ).to_contain_text("il y a 10 min")

    # The camera comes back: the next health event of the stream turns its row green, without a reload.
    with make_sessionmaker(live.engine)() as session:
        row = session.get(CameraHealth, live.camera_ids["sud"])
        assert row is not None
        row.state = CameraState.UP
        row.last_frame_at = datetime.now(UTC)
        row.updated_at = datetime.now(UTC)
        session.commit()
    try:
        playwright_api.expect(
            page.locator(f'#health-rows tr[data-camera-id="{live.camera_ids["sud"]}"]')
        ).to_have_attribute("data-health", "up", timeout=15000)
    finally:
        with make_sessionmaker(live.engine)() as session:
            row = session.get(CameraHealth, live.camera_ids["sud"])
            assert row is not None
            row.state = CameraState.DOWN
            session.commit()

    svg = page.locator("#fire-map")
    playwright_api.expect(svg.locator(".camera-mark")).to_have_count(3)
    playwright_api.expect(svg.locator(".camera-fov")).to_have_count(3)
    labels = svg.locator(".camera-label").all_text_contents()
    assert sorted(labels) == sorted(spec["name"] for spec in CAMERAS.values())
    playwright_api.expect(svg.locator(".scale-bar")).to_have_count(1)
    playwright_api.expect(svg.locator(".north-arrow")).to_have_count(1)
    playwright_api.expect(svg.locator(".map-tile")).to_have_count(0)  # offline: no tile URL configured
    # North up: Vigie Nord is drawn above Vigie Sud, and west of Vigie Est.
    nord = svg.locator(f'.camera-mark[data-camera-id="{live.camera_ids["nord"]}"] circle').bounding_box()
    sud = svg.locator(f'.camera-mark[data-camera-id="{live.camera_ids["sud"]}"] circle').bounding_box()
    est = svg.locator(f'.camera-mark[data-camera-id="{live.camera_ids["est"]}"] circle').bounding_box()
    assert nord and sud and est
    assert nord["y"] < sud["y"] and nord["x"] < est["x"]


def test_a_wrong_token_is_refused_and_a_dropped_stream_shows_the_banner_then_reconnects(
    live: LiveApp, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        page.goto(f"{live.base_url}{pages_fire.CONSOLE_PATH}")
        page.fill("#token-input", "vigie_not-a-real-token")
        page.click("#token-form button[type=submit]")
        playwright_api.expect(page.locator("#token-error")).to_be_visible(timeout=10000)
        playwright_api.expect(page.locator("#token-dialog")).to_have_attribute("open", "")

        # The stream is refused at first (as if the network dropped): the banner says so.
        page.route("**/api/v1/alerts/stream*", lambda route: route.abort())
        page.fill("#token-input", live.operator_token)
        page.click("#token-form button[type=submit]")
        playwright_api.expect(page.locator("#stream-banner")).to_be_visible(timeout=10000)
        playwright_api.expect(page.locator("#stream-state")).to_have_attribute(
            "data-state", "down", timeout=10000
        )
        # The network is back: the page reconnects by itself and the banner goes.
        page.unroute("**/api/v1/alerts/stream*")
        playwright_api.expect(page.locator("#stream-state")).to_have_attribute(
            "data-state", "live", timeout=20000
        )
        playwright_api.expect(page.locator("#stream-banner")).to_be_hidden(timeout=10000)
        # The token was kept: a reload goes straight to the console.
        page.reload()
        playwright_api.expect(page.locator("#stream-state")).to_have_attribute(
            "data-state", "live", timeout=10000
        )
        playwright_api.expect(page.locator("#token-dialog")).not_to_have_attribute("open", "")
    finally:
        context.close()


def test_configured_tiles_are_drawn_under_the_map_at_the_cameras_web_mercator_tiles(
    tmp_path: Path, open_console: Callable[..., Any], live_server: Callable[..., Any]
) -> None:
    for app in _serve(tmp_path, live_server, tile_url="/test-tiles/{z}/{x}/{y}.png"):
        page = open_console(app)
        tiles = page.locator("#fire-map .map-tile")
        playwright_api.expect(tiles.first).to_be_attached()
        drawn = tiles.evaluate_all("els => els.map(e => e.getAttribute('data-tile'))")
        zoom = int(drawn[0].split("/")[0])
        for camera in CAMERAS.values():
            x, y = _tile_of(camera["longitude"], camera["latitude"], zoom)
            assert f"{zoom}/{x}/{y}" in drawn, f"{camera['name']}: tile {zoom}/{x}/{y} not in {drawn}"
        page.wait_for_function("() => [...document.querySelectorAll('#fire-map .map-tile')].length > 0")
        deadline = time.monotonic() + 10
        while len(set(app.tile_requests)) < len(set(drawn)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert set(drawn) <= set(app.tile_requests)  # the browser fetched them from the template URL
        if "VIGIE_SCREENSHOT_DIR" in os.environ:
            page.locator(".map-panel").screenshot(
                path=str(Path(os.environ["VIGIE_SCREENSHOT_DIR"]) / "fire_console_tiles.png")
            )
        # Each camera's dot lies inside the tile that contains it.
        for slug, camera in CAMERAS.items():
            x, y = _tile_of(camera["longitude"], camera["latitude"], zoom)
            tile = page.locator(f'#fire-map .map-tile[data-tile="{zoom}/{x}/{y}"]').bounding_box()
            dot = page.locator(f'#fire-map .camera-mark[data-camera-id="{app.camera_ids[slug]}"] circle')
            centre = dot.bounding_box()
            assert tile and centre
            cx, cy = centre["x"] + centre["width"] / 2, centre["y"] + centre["height"] / 2
            assert (
                tile["x"] <= cx <= tile["x"] + tile["width"] and tile["y"] <= cy <= tile["y"] + tile["height"]
            )


def _tile_of(lon: float, lat: float, zoom: int) -> tuple[int, int]:
    """Slippy-map tile numbers (the OSM formula), computed independently of the page's JavaScript."""
    import math

    n = 2**zoom
    x = int((lon + 180.0) / 360.0 * n)
    lat_rad = math.radians(lat)
    y = int((1.0 - math.asinh(math.tan(lat_rad)) / math.pi) / 2.0 * n)
    return x, y


def _contains(fragment: str) -> Any:
    import re

    return re.compile(re.escape(fragment))


def test_console_page_is_served_without_authentication_and_injects_the_tile_url(live: LiveApp) -> None:
    response = httpx.get(f"{live.base_url}{pages_fire.CONSOLE_PATH}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-store"
    assert "window.VIGIE_TILE_URL = null" in response.text
    for asset in ("/static/fire/console.js", "/static/fire/map.js", "/static/fire/console.css"):
        assert httpx.get(f"{live.base_url}{asset}", timeout=10).status_code == 200, asset
    # No CDN: every script and stylesheet comes from this server.
    assert "https://" not in response.text and "http://" not in response.text.replace("http://www.w3.org", "")


def test_map_geometry_agrees_with_pyproj_and_wraps_across_north(live: LiveApp, browser: Any) -> None:
    """The page's own maths (static/fire/map.js), run in the browser, against pyproj and the OSM formula."""
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{live.base_url}{pages_fire.CONSOLE_PATH}")
        got = page.evaluate(
            """async () => {
                const m = await import('/static/fire/map.js');
                return {
                    destination: m.destination(0.2, 48.1, 45, 20000),
                    arc: m.arcPoints(0.2, 48.1, 350, 10, 10000, 4),
                    tiles: [[0.2, 48.1, 9], [0.45, 48.05, 12], [-1.55, 43.48, 14], [7.26, 43.7, 16]]
                        .map(([lon, lat, z]) => m.lonLatToTile(lon, lat, z)),
                    nice: [3700, 12000, 999, 1].map(m.niceDistance),
                };
            }"""
        )
    finally:
        context.close()
    # Spherical destination vs the WGS84 ellipsoid: within 0.5 % of the distance, azimuth within 0.3°.
    azimuth, _, distance = GEOD.inv(0.2, 48.1, *got["destination"])
    assert abs(distance - 20000) < 100 and abs(azimuth - 45) < 0.3
    # A cone from 350° to 10° spans north (20° wide), not the 340° the other way round.
    azimuths = [GEOD.inv(0.2, 48.1, lon, lat)[0] % 360 for lon, lat in got["arc"]]
    expected = [350, 355, 0, 5, 10]
    assert all(min(abs(a - e), 360 - abs(a - e)) < 0.3 for a, e in zip(azimuths, expected, strict=True))
    for tile, (lon, lat, zoom) in zip(
        got["tiles"], [(0.2, 48.1, 9), (0.45, 48.05, 12), (-1.55, 43.48, 14), (7.26, 43.7, 16)], strict=True
    ):
        assert (tile["x"], tile["y"], tile["z"]) == (*_tile_of(lon, lat, zoom), zoom)
    assert got["nice"] == [2000, 10000, 500, 1]


def test_the_operator_sets_the_days_fire_danger_level(
    live: LiveApp, open_console: Callable[..., Any]
) -> None:
    from vigie.store.models import FireDangerLevel

    page = open_console(live)
    level = page.locator("#danger-level")
    playwright_api.expect(level).to_have_value("3")  # nobody set one: the default
    with page.expect_response(
        lambda r: r.url.endswith("/api/v1/fire/danger-level") and r.request.method == "PUT"
    ):
        level.select_option("4")
    playwright_api.expect(level).to_have_attribute("data-level", "4")
    with make_sessionmaker(live.engine)() as session:
        rows = list(session.scalars(select(FireDangerLevel)))
    assert [(row.site_id, row.level) for row in rows] == [(None, 4)]
    assert "console-operator" in rows[0].set_by
    page.reload()
    playwright_api.expect(page.locator("#danger-level")).to_have_value("4", timeout=10000)
    playwright_api.expect(page.locator("#danger-level")).to_have_attribute(
        "title", _contains("console-operator")
    )


def test_the_stream_opens_with_a_ticket_and_a_revoked_token_sends_the_operator_to_the_token_dialog(
    live: LiveApp, browser: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vigie.api import routes_fire
    from vigie.services.tokens import revoke_token

    monkeypatch.setattr(routes_fire, "STREAM_AUTH_CHECK_S", 0.5)  # the server runs in this process
    with make_sessionmaker(live.engine)() as session:
        row, token = create_token(session, name="console-revoked", roles=["operator"], secret=SECRET)
        session.commit()
        token_id = row.id
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        urls: list[str] = []
        page.on("request", lambda request: urls.append(request.url))
        page.goto(f"{live.base_url}{pages_fire.CONSOLE_PATH}")
        page.fill("#token-input", token)
        page.click("#token-form button[type=submit]")
        playwright_api.expect(page.locator("#stream-state")).to_have_attribute(
            "data-state", "live", timeout=10000
        )
        streams = [url for url in urls if "/api/v1/alerts/stream?" in url]
        assert streams and all("ticket=" in url for url in streams)
        assert not any(token in url for url in urls), "the API token travelled in a URL"

        with make_sessionmaker(live.engine)() as session:
            revoke_token(session, token_id=token_id)
            session.commit()
        playwright_api.expect(page.locator("#token-dialog")).to_have_attribute("open", "", timeout=10000)
        playwright_api.expect(page.locator("#token-error")).to_contain_text("révoqué")
    finally:
        context.close()
