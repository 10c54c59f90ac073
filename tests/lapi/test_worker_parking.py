"""The lapi pipeline over synthetic plate reads (tracking, voting, sessions) and, slow, over real photos."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import numpy as np
import pytest
from sqlalchemy import select

from vigie.config import CameraConfig, SiteConfig, sync_site
from vigie.errors import ConfigError
from vigie.pipelines.lapi.config import LapiCarParkConfig, LapiPipelineConfig
from vigie.pipelines.lapi.reading import PlateObservation
from vigie.pipelines.lapi.worker import LapiPipeline
from vigie.services.lapi_plates import hash_plate
from vigie.services.schemas import SiteCreate
from vigie.settings import Settings
from vigie.store.db import make_sessionmaker, session_scope
from vigie.store.models import CarPark, ParkingSession, ParkingStatus, PlateRead
from vigie.vision.frame import Frame

SECRET = "worker-tests-secret-" + "w" * 32
T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
IMAGE = np.zeros((480, 640, 3), np.uint8)


def observation(
    text: str, box: tuple[float, float, float, float], confidence: float = 0.9
) -> PlateObservation:
    return PlateObservation(
        box=box, detection_confidence=0.8, raw_text=text, text=text, format="siv", confidence=confidence,
        char_confidences=(confidence,) * len(text),
    )  # fmt: skip


@dataclass
class ScriptedReader:
    """Stands for PlateReader: returns the observations scripted for each frame sequence number."""

    script: dict[int, list[PlateObservation]]
    detector = SimpleNamespace(name="plate-yolov8n", version="test")

    def read(self, frame: Frame) -> list[PlateObservation]:
        return self.script.get(frame.sequence, [])


def site_config(**lapi) -> SiteConfig:
    return SiteConfig(
        site=SiteCreate(slug="lr", name="La Rochelle", kind="lapi"),
        cameras=[
            CameraConfig(slug="in", name="In", role="entry"),
            CameraConfig(slug="out", name="Out", role="exit"),
        ],
        lapi=LapiPipelineConfig(
            car_parks=[
                LapiCarParkConfig(slug="vp", name="Vieux-Port", entry_cameras=["in"], exit_cameras=["out"])
            ],
            **lapi,
        ),
    )


def run(engine, config: SiteConfig, camera: str, script: dict[int, list[PlateObservation]], start: datetime):
    factory = make_sessionmaker(engine)
    with factory() as session:
        contexts = sync_site(session, config)
        session.commit()
    pipeline = LapiPipeline(config.lapi, ScriptedReader(script), secret=SECRET, camera_slugs=["in", "out"])
    writes = []
    for seq in range(max(script) + 1):
        frame = Frame(IMAGE, camera, start + timedelta(seconds=seq * 0.2), sequence=seq)
        writes.extend(pipeline.process(contexts[camera], frame))
    writes.extend(pipeline.close())
    with factory() as session:
        for write in writes:
            write(session)
        session.commit()
    return pipeline


def moving_plate(text: str, frames: int, misread: dict[int, str] | None = None) -> dict[int, list]:
    """A plate crossing the view left to right, read in each frame (some frames misread)."""
    misread = misread or {}
    return {
        i: [observation(misread.get(i, text), (100 + 20 * i, 300, 220 + 20 * i, 330))] for i in range(frames)
    }


def test_one_read_per_passage_voted_over_the_track_then_matched_at_exit(engine):
    config = site_config()
    entry = run(engine, config, "in", moving_plate("AB123CD", 8, misread={2: "AB123CO", 5: "A8123CD"}), T0)
    run(engine, config, "out", moving_plate("AB123CD", 5), T0 + timedelta(hours=1))

    assert entry.passages == 1
    with make_sessionmaker(engine)() as session:
        reads = session.scalars(select(PlateRead).order_by(PlateRead.read_at)).all()
        sessions = session.scalars(select(ParkingSession)).all()
        park = session.scalars(select(CarPark)).one()
    assert len(reads) == 2
    assert {r.plate_hash for r in reads} == {hash_plate("AB123CD", SECRET)}  # the misreads were outvoted
    assert reads[0].plate_text is None  # hashes only by default
    assert reads[0].model_name == "plate-yolov8n" and reads[0].ocr_model_name
    assert [(s.status, s.car_park_id) for s in sessions] == [(ParkingStatus.CLOSED, park.id)]
    assert 3590 < sessions[0].duration_s < 3610


def test_two_cars_give_two_passages_and_weak_reads_open_nothing(engine):
    config = site_config(min_match_confidence=0.5)
    script = moving_plate("AB123CD", 4)
    # A second car much later: a new track, a new passage; its plate is read with a low confidence.
    for i in range(60, 64):
        script[i] = [
            observation("EF456GH", (100 + 20 * (i - 60), 300, 220 + 20 * (i - 60), 330), confidence=0.3)
        ]
    pipeline = run(engine, config, "in", script, T0)

    assert pipeline.passages == 2
    with make_sessionmaker(engine)() as session:
        assert len(session.scalars(select(PlateRead)).all()) == 2
        opened = session.scalars(select(ParkingSession)).all()
    assert [s.plate_hash for s in opened] == [hash_plate("AB123CD", SECRET)]


def test_frame_mode_takes_each_image_as_one_vehicle(engine):
    config = site_config(passage_mode="frame", store_clear_text=True)
    script = {
        0: [observation("AB123CD", (10, 10, 90, 30)), observation("EF456GH", (400, 10, 420, 15), 0.6)],
        1: [observation("AB123CD", (12, 10, 92, 30))],  # the same car again, moments later: a duplicate
        2: [],
    }
    pipeline = run(engine, config, "in", script, T0)
    assert pipeline.passages == 2
    with make_sessionmaker(engine)() as session:
        texts = [r.plate_text for r in session.scalars(select(PlateRead))]
        assert texts == ["AB-123-CD", "AB-123-CD"]  # the background plate of frame 0 is not a passage
        assert len(session.scalars(select(ParkingSession)).all()) == 1


def test_a_car_park_created_in_a_rolled_back_batch_is_not_cached(engine):
    """The writer rolls a failed batch back (runner `_apply`): the car park it created must be made again."""
    config = site_config(passage_mode="frame")
    factory = make_sessionmaker(engine)
    with factory() as session:
        contexts = sync_site(session, config)
        session.commit()
    script = {1: [observation("AB123CD", (10, 10, 90, 30))], 2: [observation("EF456GH", (10, 10, 90, 30))]}
    pipeline = LapiPipeline(config.lapi, ScriptedReader(script), secret=SECRET, camera_slugs=["in", "out"])
    in_camera = contexts["in"]

    def failing(session) -> None:
        raise RuntimeError("forced failure after the car park was created")

    # Frame 0's car-park sync creates the car park, then the batch fails and is rolled back.
    with pytest.raises(RuntimeError, match="forced"), session_scope(factory) as session:
        for write in [*pipeline.process(in_camera, Frame(IMAGE, "in", T0, sequence=0)), failing]:
            write(session)
    with factory() as session:
        assert session.scalars(select(CarPark)).all() == []

    # The next batches, passages, create the car park again rather than reuse the rolled-back id.
    for seq in (1, 2):
        with session_scope(factory) as session:
            frame = Frame(IMAGE, "in", T0 + timedelta(seconds=seq), sequence=seq)
            for write in pipeline.process(in_camera, frame):
                write(session)
    with factory() as session:
        park = session.scalars(select(CarPark)).one()
        reads = session.scalars(select(PlateRead)).all()
    assert [r.car_park_id for r in reads] == [park.id, park.id]


def test_cameras_in_the_lapi_section_must_exist_and_have_one_role():
    with pytest.raises(ValueError, match="one role each"):
        LapiPipelineConfig(
            car_parks=[LapiCarParkConfig(slug="vp", name="VP", entry_cameras=["a"], exit_cameras=["a"])]
        )
    config = LapiPipelineConfig(car_parks=[LapiCarParkConfig(slug="vp", name="VP", entry_cameras=["ghost"])])
    with pytest.raises(ConfigError, match="ghost"):
        LapiPipeline(config, ScriptedReader({}), secret=SECRET, camera_slugs=["in"])


@pytest.mark.slow
def test_demo_reads_real_photos_and_matches_exits(shared_datasets, tmp_path):
    from vigie.pipelines.lapi.demo import run_demo
    from vigie.store.db import make_engine, upgrade

    settings = Settings(
        _env_file=None, env="test", secret_key=SECRET, data_dir=tmp_path, samples_dir=shared_datasets
    )
    upgrade(settings.resolved_database_url)
    engine = make_engine(settings.resolved_database_url)
    try:
        lines = run_demo(settings=settings, engine=engine)
        with make_sessionmaker(engine)() as session:
            statuses = [s.status for s in session.scalars(select(ParkingSession))]
            reads = session.scalars(select(PlateRead)).all()
    finally:
        engine.dispose()
    assert any("/lapi/parking" in line for line in lines)
    assert len(reads) >= 8  # at least most of the 8 entries and 4 exits were read
    assert statuses.count(ParkingStatus.CLOSED) >= 2  # exits matched their entries by plate


def test_the_example_site_file_is_valid(repo_root):
    from vigie.config import load_site_config

    config = load_site_config(repo_root / "pipelines" / "lapi" / "example.yaml")
    assert config.lapi is not None
    assignments = config.lapi.camera_assignments()
    assert {slug for slug, _ in assignments.values()} == {"vieux-port"}
    assert set(assignments) <= {camera.slug for camera in config.cameras}
