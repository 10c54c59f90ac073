"""End to end with the real model: composited smoke video → worker → confirmed alert, true bearing."""

from __future__ import annotations

import argparse
import json
import threading
from datetime import UTC, datetime

import cv2
import pytest
from sqlalchemy import select

from vigie.config import load_site_config
from vigie.errors import NotFoundError
from vigie.pipelines.fire import cli as fire_cli
from vigie.pipelines.fire.composite import BACKGROUND_VIDEO, Plume, read_video, synthetic_sequence
from vigie.pipelines.fire.demo import column_for_azimuth
from vigie.pipelines.runner import CameraFeed, Worker
from vigie.settings import Settings
from vigie.store.db import session_scope
from vigie.store.models import Alert, Detection
from vigie.vision.health import SourceHealth
from vigie.vision.source_config import FileSourceConfig

HEADING, HFOV = 212.0, 60.0
TRUE_AZIMUTH = 229.5  # where the composited plume stands, 17.5° right of the image centre


def write_video(path, frames, fps: float) -> None:
    height, width = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    for image in frames:
        writer.write(image)
    writer.release()


def test_example_site_file_is_valid(repo_root):
    config = load_site_config(repo_root / "pipelines" / "fire" / "example.yaml")
    assert config.fire is not None and config.fire.tiling.grid == "1x1"  # see BENCHMARKS, small plumes
    assert {c.slug for c in config.cameras} == set(config.fire.masks) | {"tour-ouest", "tour-sud"}
    ptz = next(c for c in config.cameras if c.slug == "tour-sud")
    assert [p.pose for p in ptz.source.presets] == [pose.name for pose in ptz.poses]


def test_smoke_command_rejects_a_missing_path(tmp_path):
    parser = argparse.ArgumentParser()
    fire_cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["smoke", str(tmp_path / "absent.mp4")])
    with pytest.raises(NotFoundError, match=r"absent\.mp4"):
        args.func(args)


@pytest.mark.slow
def test_composited_video_gives_a_confirmed_alert_with_the_true_bearing(
    shared_datasets, engine, tmp_path, fire_site
):
    from vigie.config import CameraConfig, SiteConfig
    from vigie.pipelines.fire.worker import build_pipeline
    from vigie.services.schemas import SiteCreate

    folder = shared_datasets / "smoke" / "pyronear-synthetic"
    column = column_for_azimuth(TRUE_AZIMUTH, HEADING, 1280, HFOV)
    frames = [
        f.image
        for f in synthetic_sequence(
            read_video(folder / BACKGROUND_VIDEO),
            Plume.load(folder),
            frames=8,
            start=2,
            base_x=column,
            base_y=450,
            scale=0.6,
            t0=datetime(2026, 7, 14, 13, tzinfo=UTC),
        )
    ]
    video = tmp_path / "tour.mp4"
    write_video(video, frames, fps=1.0)

    site = fire_site(
        [{"slug": "tour", "name": "Tour", "longitude": 0.2, "latitude": 47.9, "heading_deg": HEADING,
          "hfov_deg": HFOV}]
    )  # fmt: skip
    ctx, _ = site["tour"]
    config = SiteConfig(
        site=SiteCreate(slug="sarthe", name="Sarthe", kind="fire"),
        cameras=[
            CameraConfig(
                slug="tour",
                name="Tour",
                role="lookout",
                longitude=0.2,
                latitude=47.9,
                heading_deg=HEADING,
                hfov_deg=HFOV,
            )
        ],
    )
    settings = Settings(data_dir=tmp_path / "data")
    pipeline = build_pipeline(
        config=config, settings=settings.model_copy(update={"database_url": str(engine.url)})
    )
    pipeline.config = pipeline.config.model_copy(update={"danger_level": 3})
    feed = CameraFeed(
        context=ctx,
        source_config=FileSourceConfig(
            type="file", path=video, start_time=datetime(2026, 7, 14, 13, tzinfo=UTC)
        ),
        health=SourceHealth("tour"),
    )
    Worker(pipeline=pipeline, feeds=[feed], engine=engine).run(threading.Event())

    with session_scope(engine) as session:
        (alert,) = session.scalars(select(Alert)).all()
        rows = session.scalars(select(Detection).where(Detection.alert_id == alert.id)).all()
        assert alert.kind == "smoke" and alert.status == "new" and alert.cameras == [ctx.camera_id]
        (bearing,) = alert.bearings
        assert bearing["azimuth_deg"] == pytest.approx(TRUE_AZIMUTH, abs=1.0)
        assert bearing["left_deg"] < TRUE_AZIMUTH < bearing["right_deg"]
        assert len(rows) >= 3 and all(r.azimuth_deg is not None for r in rows)
        assert (settings.data_dir / alert.frame_path).is_file()


@pytest.mark.slow
def test_smoke_command_prints_detections_and_bearings(shared_datasets, tmp_path, capsys):
    folder = shared_datasets / "smoke" / "pyronear-synthetic"
    column = column_for_azimuth(TRUE_AZIMUTH, HEADING, 1280, HFOV)
    images = tmp_path / "frames"
    images.mkdir()
    sequence = synthetic_sequence(
        read_video(folder / BACKGROUND_VIDEO),
        Plume.load(folder),
        frames=6,
        start=1,
        base_x=column,
        base_y=450,
        scale=0.6,
        t0=datetime(2026, 7, 14, 13, tzinfo=UTC),
    )
    for f in sequence:
        cv2.imwrite(str(images / f"{f.index:03d}.jpg"), f.image)
    camera = tmp_path / "camera.yaml"
    camera.write_text(
        f"slug: tour\nheading_deg: {HEADING}\nhfov_deg: {HFOV}\nlongitude: 0.2\nlatitude: 47.9\n"
    )
    parser = argparse.ArgumentParser()
    fire_cli.add_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["smoke", str(images), "--camera", str(camera)])
    assert args.func(args) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # the progress bar went to stderr, stdout is one JSON document
    assert "smoke: 6frame" in captured.err
    assert report["frames"] == 6 and report["detections"]
    (alert,) = report["alerts"]
    assert alert["bearings"][0]["azimuth_deg"] == pytest.approx(TRUE_AZIMUTH, abs=1.0)
