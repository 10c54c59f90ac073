"""The fire alert API on SQLite and PostgreSQL: listing, life cycle (409s), frames, CAP, GeoJSON, cameras,
danger level, ingestion by remote workers."""

from __future__ import annotations

import base64
import io
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from PIL import Image
from shapely.geometry import Polygon

from vigie.api import routes_fire
from vigie.api.app import create_app
from vigie.errors import ConflictError
from vigie.services import fire_alerts
from vigie.services.fire_alerts import AlertDraft, upsert_alert
from vigie.services.fire_settings import FireServiceSettings
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import Alert, AlertEvent, CameraHealth, CameraState

SECRET = "fire-api-tests-secret-" + "k" * 32
CAP = "{urn:oasis:names:tc:emergency:cap:1.2}"
T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        _env_file=None,
        env="test",
        secret_key=SECRET,
        database_url=db_url,
        data_dir=tmp_path / "data",
        bootstrap_admin_token=None,
    )


@pytest.fixture
def client(
    settings: Settings, engine: sqlalchemy.Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.delenv("VIGIE_FIRE_WEBHOOK_URLS", raising=False)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


def token(engine: sqlalchemy.Engine, *roles: str, name: str = "") -> str:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name=name or "-".join(roles), roles=roles, secret=SECRET)
        session.commit()
    return clear


def bearer(engine: sqlalchemy.Engine, *roles: str, name: str = "") -> dict[str, str]:
    return {"Authorization": f"Bearer {token(engine, *roles, name=name)}"}


def jpeg(width: int = 640, height: int = 360) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 160)).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def world(engine: sqlalchemy.Engine, settings: Settings, two_towers) -> dict[str, int]:
    """The two towers (north reporting health), two alerts (one triangulated, with a frame)."""
    frame = settings.data_dir / "alerts" / "evt-tri.jpg"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(jpeg())
    site, north, south = two_towers
    with make_sessionmaker(engine)() as session:
        session.add(CameraHealth(camera_id=north.id, state=CameraState.UP, last_frame_at=datetime.now(UTC)))
        tri, _ = upsert_alert(
            session,
            alert=AlertDraft(
                public_id="evt-tri",
                site_id=site.id,
                kind="smoke",
                first_seen_at=T0,
                last_seen_at=T0 + timedelta(minutes=1),
                model_name="fire-smoke-yolov8",
                model_version="1.0.3",
                location=(5.42, 43.50),
                uncertainty=Polygon([(5.41, 43.49), (5.43, 43.49), (5.43, 43.51), (5.41, 43.51)]),
                bearings=[
                    {
                        "camera_id": north.id,
                        "camera": "north",
                        "azimuth_deg": 190.0,
                        "left_deg": 189.0,
                        "right_deg": 191.0,
                        "range_m": 15000.0,
                    },
                    {
                        "camera_id": south.id,
                        "camera": "south",
                        "azimuth_deg": 340.0,
                        "left_deg": 339.0,
                        "right_deg": 341.0,
                        "range_m": 15000.0,
                    },
                ],
                cameras=[north.id, south.id],
                confidence=0.72,
                danger_level=4,
                frame_path="alerts/evt-tri.jpg",
                frame_box=[300.0, 150.0, 360.0, 200.0],
                frame_camera_id=north.id,
            ),
        )
        single, _ = upsert_alert(
            session,
            alert=AlertDraft(
                public_id="evt-one",
                site_id=site.id,
                kind="fire",
                first_seen_at=T0,
                last_seen_at=T0,
                model_name="fire-smoke-yolov8",
                model_version="1.0.3",
                bearings=[
                    {
                        "camera_id": north.id,
                        "camera": "north",
                        "azimuth_deg": 359.5,
                        "left_deg": 358.0,
                        "right_deg": 1.0,
                        "range_m": 10000.0,
                    }
                ],
                cameras=[north.id],
                confidence=0.4,
            ),
        )
        session.commit()
        return {"site": site.id, "north": north.id, "south": south.id, "tri": tri.id, "single": single.id}


def test_routes_need_operator(client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]) -> None:
    assert client.get("/api/v1/alerts").status_code == 401
    assert client.get("/api/v1/alerts", headers=bearer(engine, "planner")).status_code == 403
    assert client.get("/api/v1/alerts", headers=bearer(engine, "admin")).status_code == 200
    assert client.get(f"/api/v1/alerts/{world['tri']}/frame.jpg").status_code == 401


def test_list_and_read_alerts(client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]) -> None:
    headers = bearer(engine, "operator")
    listed = client.get("/api/v1/alerts", headers=headers).json()
    assert {a["public_id"] for a in listed} == {"evt-tri", "evt-one"}
    tri = next(a for a in listed if a["public_id"] == "evt-tri")
    assert tri["location"]["longitude"] == pytest.approx(5.42)
    # Lambert-93 of (5.42 E, 43.50 N): around x 896 km, y 6 266 km
    assert 880_000 < tri["location"]["x_l93"] < 910_000 and 6_250_000 < tri["location"]["y_l93"] < 6_280_000
    assert tri["uncertainty"]["type"] == "Polygon"
    assert tri["frame_url"] == f"/api/v1/alerts/{world['tri']}/frame.jpg"
    assert tri["frame_size"] == [640, 360]
    assert tri["danger_level"] == 4
    north = next(b for b in tri["bearings"] if b["camera_id"] == world["north"])
    assert (north["longitude"], north["latitude"], north["camera_name"]) == (5.40, 43.55, "North tower")
    single = next(a for a in listed if a["public_id"] == "evt-one")
    assert single["location"] is None and single["frame_url"] is None and single["frame_size"] is None

    one = client.get(f"/api/v1/alerts/{world['tri']}", headers=headers).json()
    assert [e["to_status"] for e in one["events"]] == ["new"]
    assert client.get("/api/v1/alerts/987654", headers=headers).status_code == 404


def test_life_cycle_over_http(client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]) -> None:
    headers = bearer(engine, "operator", name="salle-op-1")
    url = f"/api/v1/alerts/{world['tri']}"
    response = client.post(f"{url}/acknowledge", headers=headers)
    assert response.status_code == 200 and response.json()["status"] == "acknowledged"
    response = client.post(f"{url}/confirm", headers=headers, json={"note": "visible from the road"})
    assert response.json()["status"] == "confirmed"
    illegal = client.post(f"{url}/false-alarm", headers=headers)
    assert illegal.status_code == 409 and illegal.json()["error"] == "conflict"
    assert client.post(f"{url}/close", headers=headers).json()["status"] == "closed"
    assert client.post(f"{url}/close", headers=headers).status_code == 409
    assert client.post(f"{url}/explode", headers=headers).status_code == 422
    with make_sessionmaker(engine)() as session:
        events = session.scalars(
            sqlalchemy.select(AlertEvent).where(AlertEvent.alert_id == world["tri"]).order_by(AlertEvent.id)
        ).all()
        assert [(e.to_status.value, e.actor) for e in events[1:]] == [
            ("acknowledged", "salle-op-1"),
            ("confirmed", "salle-op-1"),
            ("closed", "salle-op-1"),
        ]
        assert events[2].note == "visible from the road"
    # closed alerts leave the active list but stay readable
    active = client.get("/api/v1/alerts", headers=headers).json()
    assert world["tri"] not in {a["id"] for a in active}
    everything = client.get("/api/v1/alerts?active=false", headers=headers).json()
    assert world["tri"] in {a["id"] for a in everything}


def test_frame_with_the_bearer_header_only(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]
) -> None:
    clear = token(engine, "operator")
    headers = {"Authorization": f"Bearer {clear}"}
    response = client.get(f"/api/v1/alerts/{world['tri']}/frame.jpg", headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (640, 360)
    assert client.get(f"/api/v1/alerts/{world['single']}/frame.jpg", headers=headers).status_code == 404
    # A valid token in the URL is no credential: tokens never travel in URLs (proxy and access logs).
    in_url = client.get(f"/api/v1/alerts/{world['tri']}/frame.jpg?token={clear}")
    assert in_url.status_code == 401 and "bearer" in in_url.json()["detail"].lower()


def test_cap_is_well_formed_cap_1_2(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]
) -> None:
    headers = bearer(engine, "operator")
    response = client.get(f"/api/v1/alerts/{world['tri']}/cap", headers=headers)
    assert response.status_code == 200 and "cap+xml" in response.headers["content-type"]
    root = ET.fromstring(response.content)
    assert root.tag == f"{CAP}alert"
    children = [c.tag.removeprefix(CAP) for c in root]
    assert children[:5] == ["identifier", "sender", "sent", "status", "msgType"]
    assert root.findtext(f"{CAP}msgType") == "Alert" and root.findtext(f"{CAP}identifier") == "evt-tri"
    assert root.findtext(f"{CAP}sent").endswith("-00:00")
    info = root.find(f"{CAP}info")
    assert info.findtext(f"{CAP}category") == "Fire"
    assert info.findtext(f"{CAP}certainty") == "Likely"  # confidence 0.72
    polygon = info.find(f"{CAP}area/{CAP}polygon").text.split()
    assert polygon[0] == polygon[-1] and len(polygon) >= 4
    lat, lon = (float(v) for v in polygon[0].split(","))
    assert 43.4 < lat < 43.6 and 5.3 < lon < 5.5  # lat,lon order

    client.post(f"/api/v1/alerts/{world['tri']}/false-alarm", headers=headers)
    root = ET.fromstring(client.get(f"/api/v1/alerts/{world['tri']}/cap", headers=headers).content)
    assert root.findtext(f"{CAP}msgType") == "Cancel"
    assert root.findtext(f"{CAP}references").split(",")[1] == "evt-tri"
    assert root.findtext(f"{CAP}identifier") != "evt-tri"


def test_geojson_of_one_alert_and_collection(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]
) -> None:
    headers = bearer(engine, "operator")
    one = client.get(f"/api/v1/alerts/{world['tri']}/geojson", headers=headers)
    assert one.headers["content-type"].startswith("application/geo+json")
    kinds = [f["properties"]["feature"] for f in one.json()["features"]]
    assert sorted(kinds) == ["bearing", "bearing", "cone", "cone", "location", "uncertainty"]
    point = next(f for f in one.json()["features"] if f["properties"]["feature"] == "location")
    assert point["geometry"]["coordinates"] == [5.42, 43.5]  # lon, lat
    everything = client.get("/api/v1/alerts/geojson", headers=headers).json()
    assert everything["type"] == "FeatureCollection"
    assert {f["properties"]["public_id"] for f in everything["features"]} == {"evt-tri", "evt-one"}


def test_fire_cameras_with_health(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]
) -> None:
    cameras = client.get("/api/v1/fire/cameras", headers=bearer(engine, "operator")).json()
    by_slug = {c["slug"]: c for c in cameras}
    assert by_slug["north"]["heading_deg"] == 180.0 and by_slug["north"]["hfov_deg"] == 60.0
    assert by_slug["north"]["health"]["up"] is True
    assert by_slug["south"]["health"] == {**by_slug["south"]["health"], "state": "unknown", "up": False}


def test_danger_level_get_put(client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]) -> None:
    headers = bearer(engine, "operator", name="chef-de-salle")
    got = client.get("/api/v1/fire/danger-level?day=2026-07-14", headers=headers).json()
    assert got["level"] == 3 and got["is_default"] is True
    put = client.put("/api/v1/fire/danger-level", headers=headers, json={"day": "2026-07-14", "level": 5})
    assert put.status_code == 200 and put.json()["set_by"] == "chef-de-salle"
    site = client.get(
        f"/api/v1/fire/danger-level?day=2026-07-14&site_id={world['site']}", headers=headers
    ).json()
    assert site["level"] == 5 and site["is_default"] is False  # the all-sites level applies to the site
    today = client.put(
        "/api/v1/fire/danger-level", headers=headers, json={"site_id": world["site"], "level": 2}
    )
    assert today.json()["day"] in {(date.today() + timedelta(days=d)).isoformat() for d in (-1, 0, 1)}
    assert client.put("/api/v1/fire/danger-level", headers=headers, json={"level": 6}).status_code == 422
    unknown = client.put("/api/v1/fire/danger-level", headers=headers, json={"site_id": 999, "level": 2})
    assert unknown.status_code == 404


def _ingest_body(world: dict[str, int], **overrides) -> dict:
    body = {
        "public_id": "remote-1",
        "site_id": world["site"],
        "kind": "smoke",
        "first_seen_at": "2026-07-14T13:00:00Z",
        "last_seen_at": "2026-07-14T13:00:40Z",
        "model_name": "fire-smoke-yolov8",
        "model_version": "1.0.3",
        "confidence": 0.66,
        "bearings": [
            {
                "camera_id": world["south"],
                "camera": "south",
                "azimuth_deg": 330.5,
                "left_deg": 330.0,
                "right_deg": 331.0,
                "range_m": 12000,
                "seen_at": "2026-07-14T13:00:40Z",
            }
        ],
        "cameras": [world["south"]],
        "frame_box": [10, 20, 50, 60],
        "frame_camera_id": world["south"],
        "frame_jpeg_base64": base64.b64encode(jpeg(320, 240)).decode(),
    }
    body.update(overrides)
    return body


def test_ingest_creates_then_merges(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int], settings: Settings
) -> None:
    worker = bearer(engine, "worker", name="remote-worker")
    assert (
        client.post(
            "/api/v1/alerts/ingest", headers=bearer(engine, "operator"), json=_ingest_body(world)
        ).status_code
        == 403
    )
    created = client.post("/api/v1/alerts/ingest", headers=worker, json=_ingest_body(world))
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["frame_size"] == [320, 240]
    with make_sessionmaker(engine)() as session:
        first_frame = session.scalar(sqlalchemy.select(Alert.frame_path).where(Alert.public_id == "remote-1"))
    assert (settings.data_dir / first_frame).is_file()
    # A later, less confident draft with its own frame: the kept frame and box stay together.
    weaker = _ingest_body(
        world,
        last_seen_at="2026-07-14T13:05:00Z",
        confidence=0.4,
        frame_box=[100, 100, 120, 120],
        frame_jpeg_base64=base64.b64encode(jpeg(640, 480)).decode(),
    )
    merged = client.post("/api/v1/alerts/ingest", headers=worker, json=weaker)
    assert merged.status_code == 200 and merged.json()["id"] == body["id"]
    assert merged.json()["last_seen_at"].startswith("2026-07-14T13:05:00")
    assert merged.json()["frame_box"] == [10, 20, 50, 60] and merged.json()["frame_size"] == [320, 240]
    assert sorted(p.name for p in (settings.data_dir / "alerts").glob("remote-1*")) == [
        first_frame.split("/")[-1]
    ]
    with make_sessionmaker(engine)() as session:
        alert = session.scalar(sqlalchemy.select(Alert).where(Alert.public_id == "remote-1"))
        assert alert.events[0].actor == "remote-worker"
        assert alert.frame_path == first_frame


@pytest.mark.parametrize(
    ("overrides", "status"),
    [
        ({"cameras": [424242]}, 404),
        ({"frame_jpeg_base64": base64.b64encode(b"GIF89a....").decode()}, 422),
        ({"frame_jpeg_base64": "***"}, 422),
        ({"first_seen_at": "2026-07-14T13:00:00"}, 422),
        ({"last_seen_at": "2026-07-14T12:00:00Z"}, 422),
        ({"uncertainty": {"type": "Point", "coordinates": [5.4, 43.5]}}, 422),
        ({"kind": "flood"}, 422),
        ({"bearings": [{"camera_id": 1, "azimuth_deg": None}]}, 422),  # unknown bearing without reason
        ({"bearings": [{"camera_id": 1, "reason": "camera has no heading"}]}, 422),  # azimuth_deg omitted
        ({"bearings": [{"camera_id": 1, "azimuth_deg": None, "reason": "x", "left_deg": 2.0}]}, 422),
    ],
)
def test_ingest_refuses_bad_input(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int], overrides: dict, status: int
) -> None:
    response = client.post(
        "/api/v1/alerts/ingest", headers=bearer(engine, "worker"), json=_ingest_body(world, **overrides)
    )
    assert response.status_code == status, response.text


def test_a_camera_without_heading_travels_as_an_unknown_bearing(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int]
) -> None:
    """Ingest → AlertOut → GeoJSON → CAP: the bearing has no azimuth, its reason is said everywhere."""
    unknown = {
        "camera_id": world["north"],
        "camera": "north",
        "azimuth_deg": None,
        "reason": "camera has no heading",
        "seen_at": "2026-07-14T13:00:40Z",
    }
    body = _ingest_body(world, public_id="remote-no-heading", bearings=[unknown], cameras=[world["north"]])
    body.pop("frame_jpeg_base64")
    created = client.post("/api/v1/alerts/ingest", headers=bearer(engine, "worker"), json=body)
    assert created.status_code == 201, created.text
    alert_id = created.json()["id"]
    headers = bearer(engine, "operator")
    out = client.get(f"/api/v1/alerts/{alert_id}", headers=headers).json()
    (bearing,) = out["bearings"]
    assert bearing["azimuth_deg"] is None and bearing["reason"] == "camera has no heading"
    assert bearing["camera_name"] == "North tower" and bearing["longitude"] == pytest.approx(5.40)
    assert "left_deg" not in bearing and out["location"] is None
    features = client.get(f"/api/v1/alerts/{alert_id}/geojson", headers=headers).json()["features"]
    assert [(f["properties"]["feature"], f["geometry"]) for f in features] == [("bearing_unknown", None)]
    assert features[0]["properties"]["reason"] == "camera has no heading"
    cap = ET.fromstring(client.get(f"/api/v1/alerts/{alert_id}/cap", headers=headers).content)
    assert "north bearing unknown (camera has no heading)" in cap.findtext(f"{CAP}info/{CAP}description")


def _stored_frame(engine: sqlalchemy.Engine, public_id: str) -> str:
    with make_sessionmaker(engine)() as session:
        return session.scalar(sqlalchemy.select(Alert.frame_path).where(Alert.public_id == public_id))


def test_a_better_ingested_frame_replaces_the_stored_file(
    client: TestClient, engine: sqlalchemy.Engine, world: dict[str, int], settings: Settings
) -> None:
    worker = bearer(engine, "worker")
    assert client.post("/api/v1/alerts/ingest", headers=worker, json=_ingest_body(world)).status_code == 201
    first = _stored_frame(engine, "remote-1")
    better = _ingest_body(
        world,
        last_seen_at="2026-07-14T13:05:00Z",
        confidence=0.9,
        frame_box=[100, 100, 120, 120],
        frame_jpeg_base64=base64.b64encode(jpeg(640, 480)).decode(),
    )
    merged = client.post("/api/v1/alerts/ingest", headers=worker, json=better)
    assert merged.status_code == 200 and merged.json()["frame_size"] == [640, 480]
    second = _stored_frame(engine, "remote-1")
    assert second != first
    # One file per alert on disk: the replaced JPEG went once the merge was committed.
    assert [p.name for p in (settings.data_dir / "alerts").glob("remote-1*")] == [second.split("/")[-1]]


def test_a_failed_ingest_keeps_the_stored_frame_and_leaves_no_new_file(
    client: TestClient,
    engine: sqlalchemy.Engine,
    world: dict[str, int],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    worker = bearer(engine, "worker")
    assert client.post("/api/v1/alerts/ingest", headers=worker, json=_ingest_body(world)).status_code == 201
    first = _stored_frame(engine, "remote-1")
    merge = fire_alerts.upsert_alert

    def merge_then_fail(session, **kwargs):
        merge(session, **kwargs)  # the better frame is adopted, then the transaction fails
        raise ConflictError("alert 'remote-1' was created concurrently; retry")

    monkeypatch.setattr(fire_alerts, "upsert_alert", merge_then_fail)
    better = _ingest_body(world, confidence=0.9, frame_jpeg_base64=base64.b64encode(jpeg(64, 48)).decode())
    assert client.post("/api/v1/alerts/ingest", headers=worker, json=better).status_code == 409
    assert _stored_frame(engine, "remote-1") == first  # rolled back: the stored frame is still on disk
    assert [p.name for p in (settings.data_dir / "alerts").glob("remote-1*")] == [first.split("/")[-1]]


def _cap_sender(client: TestClient, url: str, headers: dict[str, str]) -> str | None:
    root = ET.fromstring(client.get(url, headers=headers).content)
    return root.findtext(f"{CAP}sender")


def test_fire_settings_are_read_once_per_app(
    settings: Settings, engine: sqlalchemy.Engine, world: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    headers = bearer(engine, "operator")
    url = f"/api/v1/alerts/{world['tri']}/cap"
    reads: list[FireServiceSettings] = []

    def read_environment() -> FireServiceSettings:
        reads.append(FireServiceSettings(_env_file=None))
        return reads[-1]

    monkeypatch.setattr(routes_fire, "FireServiceSettings", read_environment)
    monkeypatch.setenv("VIGIE_FIRE_CAP_SENDER", "vigie@sdis72.fr")
    with TestClient(create_app(settings, engine=engine)) as client:
        assert _cap_sender(client, url, headers) == "vigie@sdis72.fr"
        monkeypatch.setenv("VIGIE_FIRE_CAP_SENDER", "changed@sdis72.fr")
        assert _cap_sender(client, url, headers) == "vigie@sdis72.fr"  # not re-read per request
    assert len(reads) == 1
    with TestClient(create_app(settings, engine=engine)) as client:  # a new app reads it again
        assert _cap_sender(client, url, headers) == "changed@sdis72.fr"
    # A test or an embedding process may set the app's own.
    app = create_app(settings, engine=engine)
    app.state.fire_settings = FireServiceSettings(_env_file=None, cap_sender="salle@sdis72.fr")
    with TestClient(app) as client:
        assert _cap_sender(client, url, headers) == "salle@sdis72.fr"
    assert len(reads) == 2
