"""PTZ presets: tracks kept per pose, bearings from the pose's heading, none from an unknown pose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vigie.pipelines.fire.config import ConfirmationConfig
from vigie.pipelines.fire.confirmation import Confirmer
from vigie.pipelines.fire.geometry import CameraGeometry, CameraPoseGeometry

T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)
BOX = np.array([[900.0, 500.0, 1000.0, 560.0]])


def hit(confirmer: Confirmer, minute: int, pose: str | None) -> bool:
    """One smoke box at the same pixels; True when this hit confirms its track."""
    updates = confirmer.update(
        "tower",
        T0 + timedelta(minutes=minute),
        BOX,
        np.array([0.9]),
        ["smoke"],
        image_width=1920,
        danger_level=3,
        pose=pose,
    )
    return any(u.newly_confirmed for u in updates)


def test_the_same_pixels_at_two_presets_are_two_tracks() -> None:
    confirmer = Confirmer(ConfirmationConfig())  # default: 3 hits within 5 minutes at level 3
    # A patrol alternating between two presets: the box sits at the same pixels, but in two places.
    confirmed = [hit(confirmer, m, pose) for m, pose in enumerate(["north", "east", "north", "east"])]
    assert confirmed == [False, False, False, False]  # 2 hits per place: not 3 at one place
    assert hit(confirmer, 4, "north") is True  # the third hit at the same preset confirms
    north, east = confirmer.tracks("tower", "north"), confirmer.tracks("tower", "east")
    assert [len(t.hits) for t in north] == [3] and [len(t.hits) for t in east] == [2]
    assert north[0].pose == "north" and north[0].track_id != east[0].track_id
    assert confirmer.tracks("tower") == []  # the fixed view (no pose) has its own, empty, list


def test_bearing_uses_the_pose_heading_and_refuses_an_unknown_pose() -> None:
    geo = CameraGeometry(
        camera_id=1,
        slug="tower",
        site_id=1,
        longitude=0.2,
        latitude=48.0,
        heading_deg=0.0,
        hfov_deg=60.0,
        poses={
            "east": CameraPoseGeometry(heading_deg=90.0),
            "south": CameraPoseGeometry(180.0, hfov_deg=30.0),
        },
    )
    centre = (950.0, 500.0, 970.0, 560.0)  # centred in a 1920-wide frame
    assert geo.bearing(centre, 1920, 1080).azimuth_deg == pytest.approx(0.0, abs=0.1)
    assert geo.bearing(centre, 1920, 1080, "east").azimuth_deg == pytest.approx(90.0, abs=0.1)
    # The pose's own field of view narrows the cone of the same box.
    wide = geo.bearing((800.0, 500.0, 1120.0, 560.0), 1920, 1080, "east")
    narrow = geo.bearing((800.0, 500.0, 1120.0, 560.0), 1920, 1080, "south")
    assert narrow.right_deg - narrow.left_deg < wide.right_deg - wide.left_deg
    assert geo.missing("west") == "unknown pose"
    assert geo.bearing(centre, 1920, 1080, "west") is None  # no guess from the fixed heading


def test_patrol_frames_confirm_per_preset_with_each_preset_bearing(
    engine, fire_site, fire_frame, scripted_detector, apply_writes, tmp_path
) -> None:
    from dataclasses import replace

    from sqlalchemy import select

    from vigie.pipelines.fire.config import FirePipelineConfig
    from vigie.pipelines.fire.pipeline import FirePipeline
    from vigie.store.db import session_scope
    from vigie.store.models import Alert, Detection

    ctx, geo = fire_site(
        [{"slug": "tour", "name": "Tour", "longitude": 0.2, "latitude": 47.9, "hfov_deg": 60}]
    )["tour"]
    geo = replace(geo, poses={"nord": CameraPoseGeometry(0.0), "est": CameraPoseGeometry(90.0)})
    smoke = ("smoke", 0.6, (600.0, 300.0, 680.0, 400.0))  # bottom-centre on the optical axis (1280 wide)
    pipe = FirePipeline(
        FirePipelineConfig(danger_level=3),
        scripted_detector([[smoke]] * 7),
        cameras={"tour": geo},
        data_dir=tmp_path,
    )
    poses = ["nord", "est", "nord", "est", "nord", "est", "ouest"]
    for i, pose in enumerate(poses):
        frame = fire_frame("tour", 30 * i)
        frame.metadata["pose"] = pose
        apply_writes(pipe.process(ctx, frame))
    with session_scope(engine) as session:
        found = list(session.scalars(select(Alert).order_by(Alert.id)))
        rows = list(session.scalars(select(Detection).order_by(Detection.id)))
        # Two places, one alert each (third hit at each preset), each along its own preset's heading.
        azimuths = sorted(a.bearings[0]["azimuth_deg"] for a in found)
        assert azimuths == pytest.approx([0.0, 90.0], abs=1e-6)
        assert [r.data.get("pose") for r in rows] == poses
        assert [r.azimuth_deg for r in rows[:6]] == pytest.approx([0.0, 90.0] * 3, abs=1e-6)
        # An unknown preset: kept as a detection, with no bearing guessed from elsewhere.
        assert rows[6].azimuth_deg is None and rows[6].data["bearing_missing"] == "unknown pose"
