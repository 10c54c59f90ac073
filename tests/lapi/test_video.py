"""The video paths on a real clip (see conftest.plate_clip): `vigie plates clip.mp4` and `vigie run lapi`."""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, datetime

import cv2
import pytest
from sqlalchemy import select

from vigie.pipelines.lapi.cli import add_commands
from vigie.pipelines.lapi.syntax import clean_text


@pytest.fixture(scope="module")
def still_reads(plate_clip) -> dict[str, str]:
    """What the reader gives on each still photo (plate text of its most confident read)."""
    from vigie.pipelines.lapi.cli import _build_reader

    reader = _build_reader("cpu")
    out = {}
    for photo in plate_clip.photos:
        observations = reader.read(cv2.imread(str(photo), cv2.IMREAD_COLOR))
        out[photo.stem] = max(observations, key=lambda o: o.confidence).text if observations else ""
    return out


@pytest.mark.slow
def test_plates_cli_gives_one_row_per_car_passage(plate_clip, still_reads, tmp_path):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    out = tmp_path / "reads.csv"
    args = parser.parse_args(["plates", str(plate_clip.path), "--out", str(out), "--no-progress"])
    assert args.func(args) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    read_right = [
        p
        for p, photo in zip(plate_clip.plates, plate_clip.photos, strict=True)
        if still_reads[photo.stem] == p
    ]
    assert len(read_right) >= 3  # the clip's photos were chosen as ones the reader gets right
    assert len(rows) == len(plate_clip.plates)  # one row per car passage, not per frame
    period = plate_clip.frames_per_car + plate_clip.gap_frames
    for k, row in enumerate(rows):
        # in the order the cars pass, the best frame inside that car's second of the clip
        frame = int(row["file_or_frame"].rsplit("#frame=", 1)[1])
        assert k * period <= frame < k * period + plate_clip.frames_per_car
        assert row["file_or_frame"].startswith(plate_clip.path.name)
        if plate_clip.plates[k] in read_right:
            assert clean_text(row["plate_text"]) == plate_clip.plates[k] and row["format"] == "siv"
            assert float(row["confidence"]) > 0.5


@pytest.mark.slow
def test_lapi_worker_over_a_video_stores_one_read_per_passage_and_opens_sessions(
    plate_clip, still_reads, tmp_path
):
    from vigie.pipelines.runner import run_from_config
    from vigie.services.lapi_plates import hash_plate
    from vigie.settings import Settings
    from vigie.store.db import make_engine, make_sessionmaker
    from vigie.store.models import ParkingSession, ParkingStatus, PlateRead

    secret = "video-worker-secret-" + "v" * 32
    site = tmp_path / "site.yaml"
    site.write_text(
        f"""
site: {{slug: lr, name: La Rochelle, kind: lapi}}
cameras:
  - slug: entree
    name: Entrée
    role: entry
    source: {{type: file, path: "{plate_clip.path}", start_time: "2026-11-28T08:00:00Z"}}
lapi:
  tracker: {{frame_rate: {plate_clip.fps}}}
  car_parks:
    - {{slug: vp, name: Vieux-Port, entry_cameras: [entree]}}
"""
    )
    settings = Settings(_env_file=None, env="test", secret_key=secret, data_dir=tmp_path / "data")
    assert run_from_config("lapi", site, settings=settings) == 0

    engine = make_engine(settings.resolved_database_url)
    try:
        with make_sessionmaker(engine)() as session:
            reads = session.scalars(select(PlateRead).order_by(PlateRead.read_at)).all()
            sessions = session.scalars(select(ParkingSession).order_by(ParkingSession.entry_at)).all()
            read_rows = [(r.plate_hash, r.plate_text, r.read_at, r.plate_format.value) for r in reads]
            session_rows = [(s.plate_hash, s.status) for s in sessions]
    finally:
        engine.dispose()
    hashes = {hash_plate(p, secret): p for p in plate_clip.plates}
    read_right = [hash_plate(p, secret) for p, photo in zip(plate_clip.plates, plate_clip.photos, strict=True)
                  if still_reads[photo.stem] == p]  # fmt: skip
    assert len(read_rows) == len(plate_clip.plates)  # one plate_reads row per passage, not per frame
    assert all(text is None for _, text, _, _ in read_rows)  # hashes only (store_clear_text is off)
    assert set(read_right) <= {h for h, *_ in read_rows}
    # passages in the order the cars pass, each read during its own second of the clip
    period = (plate_clip.frames_per_car + plate_clip.gap_frames) / plate_clip.fps
    for k, (plate_hash, _, read_at, _) in enumerate(read_rows):
        offset = (read_at - datetime(2026, 11, 28, 8, tzinfo=UTC)).total_seconds()
        assert k * period <= offset < k * period + plate_clip.frames_per_car / plate_clip.fps
        if plate_hash in read_right:
            assert plate_hash == hash_plate(plate_clip.plates[k], secret)
    opened = [(h, status) for h, status in session_rows if h in read_right]
    assert len(opened) == len(read_right) and {s for _, s in opened} == {ParkingStatus.OPEN}
    assert all(h in hashes for h, _ in session_rows)  # no session for a plate that is not in the clip
