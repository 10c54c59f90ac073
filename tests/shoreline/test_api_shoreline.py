"""Shoreline API on SQLite and PostgreSQL: stations (role coastal, CRS and GCP checks), the public photo
upload (reasons for refusal, EXIF time, duplicates, limits), exports in two CRSs and reports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import cv2
import numpy as np
import pytest
from PIL import Image
from shapely.geometry import LineString

from vigie.api import routes_shoreline
from vigie.calibration.crs import to_projected
from vigie.store.db import make_sessionmaker
from vigie.store.models import PhotoStatus, Shoreline, ShorelinePhoto

LON, LAT = -1.2040, 45.0010  # a beach at Lacanau (Gironde)


def l93(dx: float = 0.0, dy: float = 0.0) -> tuple[float, float]:
    x, y = to_projected(LON, LAT, 2154)
    return float(x) + dx, float(y) + dy


def station_body(slug: str = "lacanau-nord", *, epsg: int = 2154, gcps: list | None = None) -> dict:
    cx, cy = l93()
    if gcps is None:
        gcps = [
            {"name": f"g{i}", "x": l93(dx, dy)[0], "y": l93(dx, dy)[1], "z": z, "u": u, "v": v}
            for i, (dx, dy, z, u, v) in enumerate(
                [
                    (-40, 120, 3.0, 300, 700),
                    (30, 150, 2.5, 1300, 650),
                    (80, 60, 4.0, 1800, 900),
                    (-90, 40, 5.0, 150, 1000),
                ]
            )
        ]
    return {
        "site": "lacanau",
        "slug": slug,
        "name": "Lacanau nord",
        "epsg": epsg,
        "longitude": LON,
        "latitude": LAT,
        "gcps": gcps,
        "transects": [{"x0": cx + dx, "y0": cy + 20, "x1": cx + dx, "y1": cy + 300} for dx in (-50, 0, 50)],
        "camera": {"x": cx, "y": cy, "z": 12.0, "azimuth_deg": 0.0, "tilt_deg": 75.0, "hfov_deg": 65.0},
        "plan": {"x_min": cx - 200, "x_max": cx + 200, "y_min": cy, "y_max": cy + 400, "resolution_m": 1.0},
    }


@pytest.fixture
def coastal(client, auth):
    headers = auth("coastal")
    site = client.post(
        "/api/v1/sites",
        json={"slug": "lacanau", "name": "Lacanau", "kind": "shoreline", "timezone": "Europe/Paris"},
        headers=auth("admin"),
    )
    assert site.status_code == 201, site.text
    return headers


@pytest.fixture
def media(api_settings):
    return api_settings.data_dir


def jpeg(image: np.ndarray, *, exif_time: str | None = None) -> bytes:
    pil = Image.fromarray(image[:, :, ::-1])
    buffer = io.BytesIO()
    exif = Image.Exif()
    if exif_time:
        exif.get_ifd(0x8769)[36867] = exif_time
    pil.save(buffer, format="JPEG", quality=92, exif=exif.tobytes())
    return buffer.getvalue()


def beach_photo(seed: int = 0, *, brightness: float = 1.0) -> np.ndarray:
    """A sharp, textured landscape photo (sand below, sea above) with a seeded pattern."""
    rng = np.random.default_rng(seed)
    img = np.zeros((720, 960, 3), np.uint8)
    img[:360] = (170, 120, 60)
    img[360:] = (110, 170, 210)
    noise = rng.integers(0, 60, size=img.shape, dtype=np.uint8)
    img = cv2.add(img, noise)
    return np.clip(img.astype(float) * brightness, 0, 255).astype(np.uint8)


def upload(client, data: bytes, slug: str = "lacanau-nord", name: str = "photo.jpg", **form):
    return client.post(
        f"/api/v1/shoreline/stations/{slug}/photos?process=false",
        files={"photo": (name, data, "image/jpeg")},
        data=form,
    )


def test_station_crud_needs_the_coastal_role(client, coastal, auth, media):
    assert client.post("/api/v1/shoreline/stations", json=station_body()).status_code == 401
    assert (
        client.post("/api/v1/shoreline/stations", json=station_body(), headers=auth("operator")).status_code
        == 403
    )
    created = client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["epsg"] == 2154 and body["site"] == "lacanau" and len(body["gcps"]) == 4
    assert body["upload_url"] == "/shoreline/upload/lacanau-nord" and not body["has_reference_image"]
    assert body["setup"]["origin"] == [body["setup"]["camera"]["x"], body["setup"]["camera"]["y"]]
    version = body["calibration_version"]
    again = client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal)
    assert again.status_code == 409
    patched = client.patch(
        "/api/v1/shoreline/stations/lacanau-nord",
        json={
            "name": "Nord",
            "transects": [{"x0": l93()[0], "y0": l93()[1] + 10, "x1": l93()[0], "y1": l93()[1] + 200}],
        },
        headers=coastal,
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Nord"
    assert patched.json()["calibration_version"] != version
    assert [s["slug"] for s in client.get("/api/v1/shoreline/stations", headers=coastal).json()] == [
        "lacanau-nord"
    ]
    assert client.delete("/api/v1/shoreline/stations/lacanau-nord", headers=coastal).status_code == 204
    assert client.get("/api/v1/shoreline/stations/lacanau-nord", headers=coastal).status_code == 404


def test_other_crs_is_accepted_when_coordinates_fit(client, coastal):
    body = station_body("lacanau-utm", epsg=32630)
    x, y = (float(v) for v in to_projected(LON, LAT, 32630))
    for g in body["gcps"]:
        g["x"], g["y"] = g["x"] - l93()[0] + x, g["y"] - l93()[1] + y
    for t in body["transects"]:
        t["x0"], t["x1"] = t["x0"] - l93()[0] + x, t["x1"] - l93()[0] + x
        t["y0"], t["y1"] = t["y0"] - l93()[1] + y, t["y1"] - l93()[1] + y
    body["camera"]["x"], body["camera"]["y"] = x, y
    body["plan"] = {"x_min": x - 100, "x_max": x + 100, "y_min": y, "y_max": y + 200, "resolution_m": 1.0}
    response = client.post("/api/v1/shoreline/stations", json=body, headers=coastal)
    assert response.status_code == 201, response.text


def test_wrong_crs_and_too_few_gcps_are_refused(client, coastal):
    # Lambert-93 metres declared as UTM 30N: they land far from the station (or outside the zone).
    wrong = client.post("/api/v1/shoreline/stations", json=station_body(epsg=32630), headers=coastal)
    assert wrong.status_code == 422 and "EPSG:32630" in wrong.json()["detail"]
    degrees = station_body(epsg=4326)
    assert client.post("/api/v1/shoreline/stations", json=degrees, headers=coastal).status_code == 422
    body = station_body()
    for g in body["gcps"][1:]:
        g["u"] = g["v"] = None  # only one GCP located on the reference image
    few = client.post("/api/v1/shoreline/stations", json=body, headers=coastal)
    assert few.status_code == 422 and "at least 3" in few.json()["detail"]


def test_upload_accepts_a_photo_with_its_exif_time_and_refuses_a_duplicate(client, coastal, media, engine):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    data = jpeg(beach_photo(1), exif_time="2026:05:01 14:30:00")
    first = upload(client, data)
    assert first.status_code == 202, first.text
    body = first.json()
    assert body["status"] == "pending" and 0 < body["quality_score"] <= 1
    # Europe/Paris is UTC+2 in May: EXIF local time read in the station's time zone.
    assert datetime.fromisoformat(body["taken_at"]) == datetime(2026, 5, 1, 12, 30, tzinfo=UTC)
    duplicate = upload(client, data)
    assert duplicate.status_code == 409 and duplicate.json()["error"] == "duplicate"
    with make_sessionmaker(engine)() as session:
        photo = session.get(ShorelinePhoto, body["id"])
        assert (media / photo.path).read_bytes() == data
    status = client.get(f"/api/v1/shoreline/photos/{body['id']}")
    assert status.status_code == 200 and status.json()["station"] == "lacanau-nord"


def test_upload_reasons_for_refusal(client, coastal, media, monkeypatch):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    not_image = upload(client, b"%PDF-1.4 not a photo", name="doc.pdf")
    assert not_image.status_code == 415 and not_image.json()["error"] == "not_an_image"
    dark = upload(client, jpeg(beach_photo(2, brightness=0.15)))
    assert dark.status_code == 422 and dark.json()["error"] == "too_dark"
    blurred = upload(client, jpeg(cv2.GaussianBlur(beach_photo(3), (0, 0), 12)))
    assert blurred.status_code == 422 and blurred.json()["error"] == "blurred"
    unknown = upload(client, jpeg(beach_photo(4)), slug="nowhere")
    assert unknown.status_code == 404
    monkeypatch.setattr(routes_shoreline, "MAX_UPLOAD_BYTES", 1000)
    large = upload(client, jpeg(beach_photo(5)))
    assert large.status_code == 413 and large.json()["error"] == "too_large"


def test_uploads_are_rate_limited_per_client(client, coastal, media):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    client.app.state.shoreline_upload_limiter = routes_shoreline.upload_rate_limiter(limit=2, window_s=60)
    codes = [upload(client, b"junk").status_code for _ in range(3)]
    assert codes == [415, 415, 429]


def test_background_processing_records_why_a_photo_failed(client, coastal, media):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    response = client.post(
        "/api/v1/shoreline/stations/lacanau-nord/photos",
        files={"photo": ("p.jpg", jpeg(beach_photo(6)), "image/jpeg")},
    )
    assert response.status_code == 202
    # TestClient runs background tasks before returning: the photo was processed (and failed: no reference).
    photo = client.get(f"/api/v1/shoreline/photos/{response.json()['id']}").json()
    assert photo["status"] == "failed" and "coastal team" in photo["reason"]  # the public view
    listed = client.get("/api/v1/shoreline/stations/lacanau-nord/photos", headers=coastal).json()
    assert listed[0]["status"] == "failed" and "reference image" in listed[0]["reason"]  # the team's view


def test_water_levels_import(client, coastal):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    csv_text = "time,level_m\n2026-05-01T12:00:00Z,0.4\n2026-05-01T12:10:00Z,0.5\n"
    r = client.post(
        "/api/v1/shoreline/stations/lacanau-nord/water-levels",
        files={"file": ("tide.csv", csv_text, "text/csv")},
        headers=coastal,
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2
    bad = client.post(
        "/api/v1/shoreline/stations/lacanau-nord/water-levels",
        files={"file": ("tide.csv", "2026-05-01T12:00:00,0.4\n", "text/csv")},
        headers=coastal,
    )
    assert bad.status_code == 422 and "offset" in bad.json()["detail"]


def test_exports_in_wgs84_and_lambert93_and_reports(client, coastal, media, engine):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    photo_id = upload(client, jpeg(beach_photo(7), exif_time="2026:05:01 14:30:00")).json()["id"]
    line = [(LON - 0.001, LAT + 0.001), (LON, LAT + 0.0012), (LON + 0.001, LAT + 0.0011)]
    with make_sessionmaker(engine)() as session:
        photo = session.get(ShorelinePhoto, photo_id)
        photo.status = PhotoStatus.PROCESSED
        session.add(
            Shoreline(
                photo_id=photo_id,
                station_id=photo.station_id,
                geometry=LineString(line),
                water_level_m=0.4,
                point_confidence=[0.9, 0.8, 0.7],
                method="test",
                model_name="test",
                model_version="0",
                calibration_version="c1",
                transect_distances=[100.0, 110.0, None],
            )
        )
        session.commit()
    wgs = client.get("/api/v1/shoreline/stations/lacanau-nord/shorelines.geojson", headers=coastal)
    assert wgs.status_code == 200 and wgs.headers["content-type"].startswith("application/geo+json")
    feature = wgs.json()["features"][0]
    assert feature["geometry"]["coordinates"][1] == pytest.approx([LON, LAT + 0.0012])
    assert feature["properties"]["water_level_m"] == 0.4
    lam = client.get(
        "/api/v1/shoreline/stations/lacanau-nord/shorelines.geojson?crs=EPSG:2154", headers=coastal
    )
    x, y = to_projected(LON, LAT + 0.0012, 2154)
    assert lam.json()["features"][0]["geometry"]["coordinates"][1] == pytest.approx(
        [float(x), float(y)], abs=0.01
    )
    assert lam.json()["crs"]["properties"]["name"].endswith("2154")
    rows = list(
        csv.DictReader(
            io.StringIO(
                client.get(
                    "/api/v1/shoreline/stations/lacanau-nord/shorelines.csv?crs=2154", headers=coastal
                ).text
            )
        )
    )
    assert len(rows) == 3 and float(rows[1]["x"]) == pytest.approx(float(x), abs=0.01)
    assert rows[2]["confidence"] == "0.7"
    assert (
        client.get(
            "/api/v1/shoreline/stations/lacanau-nord/shorelines.csv?crs=abc", headers=coastal
        ).status_code
        == 422
    )
    report = client.get("/api/v1/shoreline/stations/lacanau-nord/report.html", headers=coastal)
    assert (
        report.status_code == 200
        and "Lacanau nord" in report.text
        and "data:image/png;base64," in report.text
    )
    pdf = client.get("/api/v1/shoreline/stations/lacanau-nord/report.pdf", headers=coastal)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert client.get("/api/v1/shoreline/stations/lacanau-nord/report.pdf").status_code == 401


def test_upload_page_is_public_and_french(client, coastal):
    assert client.post("/api/v1/shoreline/stations", json=station_body(), headers=coastal).status_code == 201
    page = client.get("/shoreline/upload/lacanau-nord")
    assert page.status_code == 200
    assert 'accept="image/*"' in page.text and "capture" in page.text and "Envoyer la photo" in page.text
    assert client.get("/shoreline/upload/nowhere").status_code == 404
