"""The parking API (role parking): car parks, occupancy, subscribers, reads with purpose and audit."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigie.api import routes_lapi
from vigie.api.app import create_app
from vigie.services.cameras import create_camera
from vigie.services.lapi_parking import PassageRead, record_passage
from vigie.services.schemas import CameraCreate, SiteCreate
from vigie.services.sites import create_site
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker
from vigie.store.models import AuditLog, Camera, CameraRole, PlateFormat

SECRET = "lapi-api-tests-secret-" + "a" * 32
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


@pytest.fixture
def headers(engine: sqlalchemy.Engine):
    def make(*roles: str, name: str = "agent-dupont") -> dict[str, str]:
        with make_sessionmaker(engine)() as session:
            _, clear = create_token(session, name=name, roles=roles, secret=SECRET)
            session.commit()
        return {"Authorization": f"Bearer {clear}"}

    return make


@pytest.fixture
def site_id(engine: sqlalchemy.Engine) -> int:
    with make_sessionmaker(engine)() as session:
        site = create_site(session, data=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"))
        for role in (CameraRole.ENTRY, CameraRole.EXIT):
            create_camera(
                session, site_id=site.id, data=CameraCreate(slug=role.value, name=role.value, role=role)
            )
        session.commit()
        return site.id


def _park(client: TestClient, h: dict[str, str], site_id: int, **extra) -> dict:
    body = {"site_id": site_id, "slug": "vp", "name": "Vieux-Port", "capacity": 10, **extra}
    response = client.post("/api/v1/lapi/car-parks", json=body, headers=h)
    assert response.status_code == 201, response.text
    return response.json()


def test_only_the_parking_role_reaches_plate_data(client, headers, site_id):
    planner = headers("planner")
    assert client.get("/api/v1/lapi/car-parks", headers=planner).status_code == 403
    assert client.get("/api/v1/lapi/reads", params={"purpose": "check"}).status_code == 401
    assert client.get("/api/v1/lapi/car-parks", headers=headers("parking")).status_code == 200


def test_reads_need_a_purpose_and_each_access_is_audited(client, headers, site_id, engine):
    h = headers("parking")
    park = _park(client, h, site_id, store_clear_text=True)
    with make_sessionmaker(engine)() as session:
        camera_id = session.scalar(select(Camera.id).where(Camera.role == CameraRole.ENTRY))
        record_passage(
            session, camera_id=camera_id, car_park_id=park["id"], role=CameraRole.ENTRY, secret=SECRET,
            passage=PassageRead(text="AB123CD", format=PlateFormat.SIV, confidence=0.9, read_at=T0,
                                box=(1, 2, 3, 4), model_name="plate-yolov8n", model_version="1"),
        )  # fmt: skip
        session.commit()

    missing = client.get("/api/v1/lapi/reads", headers=h)
    assert missing.status_code == 422 and "purpose" in missing.text

    found = client.post(
        "/api/v1/lapi/reads/search", json={"purpose": "contestation FPS 118", "plate": "ab-123-cd"}, headers=h
    )
    assert found.status_code == 200
    assert [r["plate_text"] for r in found.json()] == ["AB-123-CD"]
    other = client.post(
        "/api/v1/lapi/reads/search", json={"purpose": "check", "plate": "EF-456-GH"}, headers=h
    )
    assert other.json() == []

    with make_sessionmaker(engine)() as session:
        rows = session.scalars(select(AuditLog).where(AuditLog.action == "lapi.reads.list")).all()
    assert [(r.actor, r.purpose, r.details["returned"]) for r in rows] == [
        ("agent-dupont", "contestation FPS 118", 1),
        ("agent-dupont", "check", 0),
    ]


def test_a_malformed_plate_is_a_422_naming_it_masked(client, headers, site_id):
    h = headers("parking")
    park = _park(client, h, site_id)
    bad_search = client.post(
        "/api/v1/lapi/reads/search", json={"purpose": "check", "plate": "AB-12$-CD"}, headers=h
    )
    assert bad_search.status_code == 422
    assert "'AB…'" in bad_search.json()["detail"] and "12$" not in bad_search.text
    bad_body = client.post(
        f"/api/v1/lapi/car-parks/{park['id']}/subscribers",
        params={"purpose": "new contract"},
        json={"plate": "GH-478-IO", "valid_from": "2026-11-01T00:00:00+01:00"},
        headers=h,
    )
    assert bad_body.status_code == 422 and "plate" in bad_body.text and "SIV" in bad_body.text
    assert "478" not in bad_body.text  # neither in the message nor echoed as the submitted input
    # A model-level error (dates in the wrong order) would echo the whole body, plate included: it does not.
    bad_order = client.post(
        f"/api/v1/lapi/car-parks/{park['id']}/subscribers",
        params={"purpose": "new contract"},
        json={"plate": "GH-478-JK", "valid_from": "2026-11-02T00:00:00Z", "valid_to": "2026-11-01T00:00:00Z"},
        headers=h,
    )
    assert bad_order.status_code == 422 and "valid_to" in bad_order.text and "478" not in bad_order.text


def test_get_listings_refuse_a_plate_in_the_url_and_search_takes_it_in_the_body(client, headers, site_id):
    h = headers("parking")
    park = _park(client, h, site_id, store_clear_text=True)
    base = f"/api/v1/lapi/car-parks/{park['id']}"
    for path in ("/api/v1/lapi/reads", f"{base}/sessions", f"{base}/subscribers"):
        refused = client.get(path, params={"purpose": "check", "plate": "AB-123-CD"}, headers=h)
        assert refused.status_code == 422, path
        assert f"POST {path}/search" in refused.json()["detail"] and "123" not in refused.text
    created = client.post(
        f"{base}/subscribers",
        params={"purpose": "new contract"},
        json={"plate": "AB-123-CD", "valid_from": "2026-11-01T00:00:00+01:00"},
        headers=h,
    )
    assert created.status_code == 201, created.text
    subs = client.post(f"{base}/subscribers/search", json={"purpose": "check", "plate": "ab123cd"}, headers=h)
    assert subs.status_code == 200 and [s["plate_text"] for s in subs.json()] == ["AB-123-CD"]
    none = client.post(
        f"{base}/subscribers/search", json={"purpose": "check", "plate": "EF-456-GH"}, headers=h
    )
    assert none.status_code == 200 and none.json() == []
    sessions = client.post(
        f"{base}/sessions/search",
        json={"purpose": "check", "plate": "AB-123-CD", "status": "open"},
        headers=h,
    )
    assert sessions.status_code == 200 and sessions.json() == []
    no_purpose = client.post("/api/v1/lapi/reads/search", json={"plate": "AB-123-CD"}, headers=h)
    assert no_purpose.status_code == 422 and "purpose" in no_purpose.text


def test_unknown_car_park_is_a_404(client, headers, site_id):
    h = headers("parking")
    assert client.get("/api/v1/lapi/car-parks/999", headers=h).status_code == 404
    assert client.get("/api/v1/lapi/car-parks/999/occupancy", headers=h).status_code == 404
    response = client.get("/api/v1/lapi/car-parks/999/sessions", params={"purpose": "check"}, headers=h)
    assert response.status_code == 404 and "999" in response.json()["detail"]


def test_subscribers_crud_and_import_with_bad_rows(client, headers, site_id):
    h = headers("parking")
    park = _park(client, h, site_id, store_clear_text=True)
    base = f"/api/v1/lapi/car-parks/{park['id']}/subscribers"
    purpose = {"purpose": "subscriber management"}
    created = client.post(
        base,
        params=purpose,
        json={"plate": "ab 123 cd", "valid_from": "2026-11-01T00:00:00+01:00"},
        headers=h,
    )
    assert created.status_code == 201 and created.json()["plate_text"] == "AB-123-CD"
    sub_id = created.json()["id"]
    updated = client.put(
        f"{base}/{sub_id}", params=purpose, headers=h,
        json={"plate": "AB-123-CD", "valid_from": "2026-11-01T00:00:00+01:00",
              "valid_to": "2026-12-01T00:00:00+01:00", "reference": "C-42"},
    )  # fmt: skip
    assert updated.status_code == 200 and updated.json()["reference"] == "C-42"

    csv_text = (
        "plate;valid_from;valid_to;reference\n"
        "EF-456-GH;2026-11-01;2026-11-30;C-1\n"
        "not a plate!;2026-11-01;;C-2\n"
        "JK-789-LM;01/11/2026;;C-3\n"
        "MN-321-PQ;2026-13-45;;C-4\n"
        "RS-654-TV;2026-11-10;2026-11-01;C-5\n"
    )
    report = client.post(
        f"{base}/import", params=purpose, content=csv_text.encode(), headers={**h, "Content-Type": "text/csv"}
    )
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["imported"] == 2
    # Rejected rows come back with the plate masked, in their cells and in their reasons.
    assert [(r["line"], r["values"]["plate"]) for r in body["rejected"]] == [
        (3, "no…"),
        (5, "MN…"),
        (6, "RS…"),
    ]
    assert body["rejected"][1]["values"]["reference"] == "C-4"
    assert "valid_to" in body["rejected"][2]["reason"]
    for plate in ("not a plate", "MN-321-PQ", "RS-654-TV", "321", "654"):
        assert plate not in report.text

    listed = client.get(base, params={**purpose, "valid_at": "2026-11-15T12:00:00Z"}, headers=h).json()
    assert sorted(s["plate_text"] for s in listed) == ["AB-123-CD", "EF-456-GH", "JK-789-LM"]
    # A date as valid_to is inclusive: the subscription ends at the next local midnight.
    ef = next(s for s in listed if s["plate_text"] == "EF-456-GH")
    assert datetime.fromisoformat(ef["valid_to"]) == datetime(2026, 11, 30, 23, 0, tzinfo=UTC)

    assert client.delete(f"{base}/{sub_id}", params=purpose, headers=h).status_code == 204
    assert client.get(f"{base}/{sub_id}", params=purpose, headers=h).status_code == 404


def _import(client: TestClient, h: dict[str, str], car_park_id: int, content, **headers: str):
    return client.post(
        f"/api/v1/lapi/car-parks/{car_park_id}/subscribers/import",
        params={"purpose": "subscriber list import"},
        content=content,
        headers={**h, "Content-Type": "text/csv", **headers},
    )


def test_import_refuses_a_body_over_the_cap_before_and_while_reading(client, headers, site_id, monkeypatch):
    h = headers("parking")
    park = _park(client, h, site_id)
    monkeypatch.setattr(routes_lapi, "MAX_IMPORT_BYTES", 64)
    csv_text = b"plate,valid_from\n" + b"AB-123-CD,2026-11-01\n" * 10  # 216 bytes
    declared = _import(client, h, park["id"], csv_text)
    assert declared.status_code == 413 and "64 bytes" in declared.json()["detail"]

    def chunks():  # no Content-Length: only the streamed count can stop it
        for _ in range(10):
            yield b"AB-123-CD,2026-11-01\n"

    streamed = _import(client, h, park["id"], chunks())
    assert streamed.status_code == 413
    small = _import(client, h, park["id"], b"plate,valid_from\nAB-123-CD,2026-11-01\n")
    assert small.status_code == 200 and small.json()["imported"] == 1


def test_import_decodes_windows_csv_and_refuses_undecodable_bytes(client, headers, site_id):
    h = headers("parking")
    park = _park(client, h, site_id)
    windows = "plate;valid_from;reference\nAB-123-CD;01/11/2026;Réf-é\n".encode("cp1252")
    decoded = _import(client, h, park["id"], windows)
    assert decoded.status_code == 200 and decoded.json()["imported"] == 1
    # 0x81 is not UTF-8 (a lone continuation byte) and has no character in Windows-1252.
    undecodable = _import(client, h, park["id"], b"plate,valid_from\nAB-123-CD,2026-11-01\x81\n")
    assert undecodable.status_code == 422
    assert "0x81" in undecodable.json()["detail"] and "UTF-8" in undecodable.json()["detail"]


def test_occupancy_needs_no_purpose_and_purge_runs(client, headers, site_id):
    h = headers("parking")
    park = _park(client, h, site_id)
    end = datetime.now(UTC)
    occ = client.get(
        f"/api/v1/lapi/car-parks/{park['id']}/occupancy",
        params={"start": (end - timedelta(hours=2)).isoformat(), "end": end.isoformat(), "step_s": 3600},
        headers=h,
    )
    assert occ.status_code == 200
    assert occ.json()["occupied_now"] == 0 and occ.json()["free_now"] == 10 and len(occ.json()["series"]) == 3
    purged = client.post("/api/v1/lapi/purge", headers=h)
    assert purged.status_code == 200 and purged.json()["reads_deleted"] == 0
    assert client.get("/lapi/parking").status_code == 200
