"""Zone statistics and origin–destination trips: synthetic tracks, the pipeline writing `zone_bins` and
`od_bins` idempotently across a restart and a replay, and their API exports."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import sqlalchemy
from fastapi.testclient import TestClient
from sqlalchemy import select

from vigie.api.app import create_app
from vigie.pipelines.base import CameraContext
from vigie.pipelines.traffic.classes import model_class_ids
from vigie.pipelines.traffic.config import (
    LineConfig,
    TrafficCameraConfig,
    TrafficPipelineConfig,
    ZoneConfig,
)
from vigie.pipelines.traffic.counter import CameraCounter
from vigie.pipelines.traffic.flow_bins import weighted_median
from vigie.services.tokens import create_token
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker, session_scope
from vigie.store.models import Camera, ODBin, Site, ZoneBin
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

COCO = {0: "person", 2: "car", 7: "truck"}
LINE_A = LineConfig(name="a", points=((0, 150), (320, 150)))
LINE_B = LineConfig(name="b", points=((0, 80), (320, 80)))
PLAZA = ZoneConfig(name="plaza", polygon=[(0, 90), (320, 90), (320, 140), (0, 140)])
CAMERA = TrafficCameraConfig(lines=[LINE_A, LINE_B], zones=[PLAZA])
SECRET = "traffic-flow-tests-secret-" + "k" * 32
T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def tracked(rows: list[tuple[int, int, list[float]]]) -> Detections:
    """(tracker id, class id, xyxy) rows → tracked Detections."""
    if not rows:
        d = Detections.empty(COCO)
        d.tracker_id = np.zeros(0, dtype=np.int64)
        return d
    return Detections(
        xyxy=np.array([r[2] for r in rows], dtype=np.float64),
        class_id=np.array([r[1] for r in rows]),
        confidence=np.full(len(rows), 0.7),
        tracker_id=np.array([r[0] for r in rows]),
        names=COCO,
    )


def test_tracks_crossing_a_then_b_make_classified_od_trips() -> None:
    counter = CameraCounter(
        TrafficCameraConfig(lines=[LINE_A, LINE_B]),
        class_map=model_class_ids(COCO),
        classes=["car", "pedestrian"],
    )
    trips = []
    for i in range(120):
        rows = []
        if i < 40:  # car 1 drives up: crosses a (y=150) then b (y=80)
            y = 220 - 5 * i
            rows.append((1, 2, [20, y - 30, 50, y]))
        if i < 40:  # person 2 walks down: crosses b then a
            y = 30 + 5 * i
            rows.append((2, 0, [100, y - 40, 115, y]))
        if i < 20:  # car 3 turns back before b: crosses a only
            y = 220 - 5 * i
            rows.append((3, 2, [200, y - 30, 230, y]))
        counter.update(tracked(rows), i / 10)
        trips += counter.od_trips
        counter.od_trips.clear()
    assert sorted((t.tracker_id, t.origin, t.destination, t.class_name) for t in trips) == [
        (1, "a", "b", "car"),
        (2, "b", "a", "pedestrian"),
    ]
    # Binned at the last crossing: car 1's bottom passes y=80 - 3 px band at frame 29 or 30.
    (car_trip,) = [t for t in trips if t.tracker_id == 1]
    assert 2.8 <= car_trip.time_s <= 3.2
    assert counter.od.state_size == 0  # finished paths are dropped: the state stays bounded


def test_weighted_median() -> None:
    assert weighted_median([]) is None
    assert weighted_median([(3.0, 1), (1.0, 1), (2.0, 1)]) == 2.0
    assert weighted_median([(10.0, 5.0), (1.0, 1), (2.0, 1)]) == 10.0  # a stored median weighing 5 samples


# --- the pipeline with a scripted detector and the real tracker ---------------------------------------


class ScriptedDetector(Detector):
    """Boxes from a script keyed by frame sequence; no model."""

    def __init__(self, script: dict[int, list[tuple[int, list[float]]]]) -> None:
        self.name, self.version, self.device, self.half = "scripted", "1", "cpu", False
        self.names, self.input_size, self.batch = COCO, 320, 1
        self.script = script
        self._seq = 0

    def detect(self, frame: Frame | np.ndarray) -> Detections:  # type: ignore[override]
        self._seq = frame.sequence if isinstance(frame, Frame) else self._seq + 1
        return self._predict([frame.image if isinstance(frame, Frame) else frame])[0]

    def _predict(self, images: list[np.ndarray]) -> list[Detections]:
        rows = self.script.get(self._seq, [])
        if not rows:
            return [Detections.empty(COCO)]
        return [
            Detections(
                xyxy=np.array([r[1] for r in rows], dtype=np.float64),
                class_id=np.array([r[0] for r in rows]),
                confidence=np.full(len(rows), 0.8),
                names=COCO,
            )
        ]


def car_script(starts: list[int]) -> dict[int, list[tuple[int, list[float]]]]:
    """A car from each start frame, driving up 5 px per frame through a, the plaza, then b."""
    script: dict[int, list[tuple[int, list[float]]]] = {}
    for k, s in enumerate(starts):
        for i in range(40):
            y2 = 220 - 5 * i
            x = 10 + 60 * (k % 4)
            script.setdefault(s + i, []).append((2, [x, y2 - 30, x + 35, y2]))
    return script


STARTS = [0, 0, 60, 120, 200, 260]  # two cars side by side first; 6 cars in all
SCRIPT = car_script(STARTS)


@pytest.fixture
def camera(engine: sqlalchemy.Engine) -> CameraContext:
    with session_scope(engine) as s:
        site = Site(slug="fecamp", name="Fécamp", kind="traffic", timezone="Europe/Paris")
        s.add(site)
        s.flush()
        cam = Camera(site_id=site.id, slug="quai", name="Quai", role="traffic")
        s.add(cam)
        s.flush()
        return CameraContext(camera_id=cam.id, slug="quai", site_id=site.id)


def run(
    engine: sqlalchemy.Engine, ctx: CameraContext, first: int, n: int, *, apply_twice: bool = False
) -> None:
    from vigie.pipelines.traffic.pipeline import TrafficPipeline

    config = TrafficPipelineConfig(classes=["car", "heavy"], cameras={"quai": CAMERA})
    pipeline = TrafficPipeline(config, ScriptedDetector(SCRIPT), timezone="Europe/Paris")
    image = np.zeros((240, 320, 3), np.uint8)
    writes = []
    for seq in range(first, first + n):
        writes += pipeline.process(ctx, Frame(image, "quai", T0 + timedelta(seconds=seq / 10), sequence=seq))
    writes += pipeline.close()
    for _ in range(2 if apply_twice else 1):
        with session_scope(engine) as s:
            for w in writes:
                w(s)


def stored(engine: sqlalchemy.Engine) -> tuple[dict, dict]:
    with session_scope(engine) as s:
        zones = {(r.zone, r.class_name): r for r in s.scalars(select(ZoneBin))}
        od = {(r.origin, r.destination, r.class_name): r.count for r in s.scalars(select(ODBin))}
        s.expunge_all()
    return zones, od


def check_six_cars(engine: sqlalchemy.Engine) -> ZoneBin:
    zones, od = stored(engine)
    assert od == {("a", "b", "car"): 6, ("b", "a", "car"): 0, ("a", "b", "heavy"): 0, ("b", "a", "heavy"): 0}
    assert set(zones) == {("plaza", "car"), ("plaza", "heavy")}
    car, heavy = zones[("plaza", "car")], zones[("plaza", "heavy")]
    assert (heavy.entries, heavy.max_occupancy, heavy.dwell_samples, heavy.mean_dwell_s) == (0, 0, 0, None)
    assert (car.entries, car.dwell_samples, car.max_occupancy) == (6, 6, 2)  # two side by side at first
    # 50 px of zone at 50 px/s: about one second inside each.
    assert 0.8 <= car.mean_dwell_s <= 1.4 and 0.8 <= car.median_dwell_s <= 1.4
    # Occupancy is integrated between processed frames: every car left, so track-seconds inside = dwell sum.
    assert car.mean_occupancy * car.observed_s == pytest.approx(
        car.mean_dwell_s * car.dwell_samples, rel=0.02
    )
    assert car.partial  # 34 s of a 15-min bin
    return car


def test_pipeline_stores_zone_and_od_bins_across_a_restart(engine: sqlalchemy.Engine, camera) -> None:
    # The worker stops after frame 179 (cars from 0, 0, 60 and 120 are through); its writes applied twice.
    run(engine, camera, 0, 180, apply_twice=True)
    zones, od = stored(engine)
    assert od[("a", "b", "car")] == 4 and zones[("plaza", "car")].entries == 4
    run(engine, camera, 190, 150)  # restarted 1 s later: continues the bin with two more cars
    whole = check_six_cars(engine)
    # Frames 0-179 then 190-339 at 10 fps: 17.9 s + 14.9 s watched; the 1 s restart gap is not.
    assert whole.observed_s == pytest.approx(17.9 + 14.9, abs=0.01)


def test_replaying_the_same_frames_replaces_zone_and_od_bins(engine: sqlalchemy.Engine, camera) -> None:
    run(engine, camera, 0, 340)
    first = check_six_cars(engine)
    run(engine, camera, 0, 340)
    again = check_six_cars(engine)
    assert (again.mean_occupancy, again.mean_dwell_s) == (first.mean_occupancy, first.mean_dwell_s)


# --- API exports ----------------------------------------------------------------------------------------


@pytest.fixture
def client(db_url: str, engine: sqlalchemy.Engine) -> Iterator[TestClient]:
    settings = Settings(_env_file=None, env="test", secret_key=SECRET, database_url=db_url)
    with TestClient(create_app(settings, engine=engine)) as test_client:
        yield test_client


def headers(engine: sqlalchemy.Engine, *roles: str) -> dict[str, str]:
    with make_sessionmaker(engine)() as session:
        _, clear = create_token(session, name="-".join(roles), roles=roles, secret=SECRET)
        session.commit()
    return {"Authorization": f"Bearer {clear}"}


DAY = {"site": "fecamp", "from": "2026-11-28", "to": "2026-11-28"}


def test_zone_and_od_exports(client: TestClient, engine: sqlalchemy.Engine, camera) -> None:
    run(engine, camera, 0, 340)
    auth = headers(engine, "planner")

    response = client.get("/api/v1/traffic/zones", params={**DAY, "format": "csv"}, headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["zone"], r["class"]) for r in rows] == [("plaza", "car"), ("plaza", "heavy")]
    car = rows[0]
    assert (car["entries"], car["max_occupancy"], car["dwell_samples"], car["partial"]) == (
        "6",
        "2",
        "6",
        "true",
    )
    assert (
        car["period_start"] == "2026-11-28T10:00:00+01:00"
        and car["period_end"] == "2026-11-28T10:15:00+01:00"
    )
    assert 0.8 <= float(car["median_dwell_s"]) <= 1.4 and rows[1]["mean_dwell_s"] == ""

    document = client.get(
        "/api/v1/traffic/zones", params={**DAY, "format": "json", "class": "car"}, headers=auth
    )
    assert [z["entries"] for z in document.json()["zones"]] == [6]

    od = client.get("/api/v1/traffic/od", params=DAY, headers=auth)
    assert od.status_code == 200 and od.headers["content-type"].startswith("application/json")
    body = od.json()
    totals = {(t["origin"], t["destination"], t["class"]): t["count"] for t in body["totals"]}
    assert totals[("a", "b", "car")] == 6 and totals[("b", "a", "car")] == 0
    assert len(body["od"]) == 4  # every (origin, destination, class) of the one watched bin, zeros included
    od_csv = client.get("/api/v1/traffic/od", params={**DAY, "format": "csv", "class": "car"}, headers=auth)
    assert [
        (r["origin"], r["destination"], r["count"]) for r in csv.DictReader(io.StringIO(od_csv.text))
    ] == [
        ("a", "b", "6"),
        ("b", "a", "0"),
    ]
    # Another day holds nothing.
    empty = client.get(
        "/api/v1/traffic/od", params={**DAY, "from": "2026-11-29", "to": "2026-11-29"}, headers=auth
    )
    assert empty.json()["od"] == [] and empty.json()["totals"] == []


@pytest.mark.parametrize(
    ("path", "params", "roles", "status"),
    [
        ("/api/v1/traffic/zones", DAY, ("operator",), 403),
        ("/api/v1/traffic/od", DAY, ("operator",), 403),
        ("/api/v1/traffic/zones", {**DAY, "site": "nowhere"}, ("planner",), 404),
        ("/api/v1/traffic/od", {**DAY, "camera": "east"}, ("planner",), 404),
        ("/api/v1/traffic/zones", {**DAY, "class": "lorry"}, ("planner",), 422),
        ("/api/v1/traffic/od", {**DAY, "from": "2026-11-30"}, ("planner",), 422),
        ("/api/v1/traffic/zones", {**DAY, "format": "xlsx"}, ("planner",), 422),
    ],
)
def test_flow_exports_refuse_bad_requests(
    client: TestClient, engine: sqlalchemy.Engine, camera, path: str, params: dict, roles: tuple, status: int
) -> None:
    assert client.get(path, params=params, headers=headers(engine, *roles)).status_code == status
