"""Station loading, CRS checks and the whole `process_photo` chain, including flagged inputs."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.process import prepare_station, process_photo, result_to_geojson
from vigie.pipelines.shoreline.quality import assess_quality
from vigie.pipelines.shoreline.station import (
    StationGeometry,
    check_station_crs,
    load_manly_station,
    manly_dir,
)

MANLY_WATER_LEVEL = 0.22  # CoastSnap's rectification level for the 2022 snap


@pytest.fixture(scope="module")
def manly(shared_datasets):
    station = load_manly_station(manly_dir(shared_datasets))
    return station, prepare_station(station)


def test_quality_flags_night_blur_small_and_portrait() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (960, 1280, 3), dtype=np.uint8)
    assert assess_quality(sharp, expect_landscape=True).ok
    night = (sharp * 0.1).astype(np.uint8)
    assert any("dark" in r for r in assess_quality(night).reasons)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 12)
    assert any("blurred" in r for r in assess_quality(blurred).reasons)
    assert any("too small" in r for r in assess_quality(sharp[:300, :400]).reasons)
    portrait = np.ascontiguousarray(sharp.transpose(1, 0, 2))
    assert any("portrait" in r for r in assess_quality(portrait, expect_landscape=True).reasons)


def test_crs_checks_refuse_degrees_and_far_away_points() -> None:
    manly_world = np.array([[341769.894, 6258734.157]])
    check_station_crs(28356, manly_world, (151.2907, -33.7997))
    with pytest.raises(InvalidInputError, match="not a projected CRS"):
        check_station_crs(4326, np.array([[151.29, -33.80]]), None)
    # The same numbers read as Lambert-93 are in France: 17,000 km from the station.
    with pytest.raises(InvalidInputError, match="wrong CRS"):
        check_station_crs(2154, manly_world, (151.2907, -33.7997))


def test_manly_station_loads(manly) -> None:
    station, _ = manly
    assert station.epsg == 28356
    assert len(station.gcp_names) == 7 and len(station.transects) == 132
    ref = station.references[0]
    assert np.isfinite(ref.gcp_uv).all()
    assert ref.stable_mask is not None and 0.1 < ref.stable_mask.mean() < 0.7


def test_manly_station_in_a_wrong_crs_is_refused(manly) -> None:
    station, _ = manly
    fields = {f.name: getattr(station, f.name) for f in dataclasses.fields(StationGeometry)}
    with pytest.raises(InvalidInputError, match="wrong CRS"):
        StationGeometry(**{**fields, "epsg": 2154})


@pytest.mark.slow
def test_manly_snap_gives_a_shoreline_and_geojson(manly) -> None:
    station, prepared = manly
    result = process_photo(station.references[0].image, prepared, MANLY_WATER_LEVEL)
    assert result.status == "ok", result.reason
    assert result.reprojection_rms_px is not None and result.reprojection_rms_px < 2.0
    assert len(result.shoreline) > 80
    assert result.plan.image.shape[:2] == station.plan_grid.shape
    assert np.allclose(result.shoreline.xyz[:, 2], MANLY_WATER_LEVEL)
    doc = result_to_geojson(result, station, photo="snap.jpg")
    coords = np.array(doc["features"][0]["geometry"]["coordinates"])
    assert np.all(np.abs(coords[:, 0] - 151.29) < 0.02) and np.all(np.abs(coords[:, 1] + 33.795) < 0.02)
    json.dumps(doc)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("night", "dark"),
        ("portrait", "portrait"),
        ("no_water_level", "missing water level"),
        ("other_place", "registration failed"),
    ],
)
def test_bad_photos_are_flagged_with_a_reason(manly, shared_datasets, case: str, expected: str) -> None:
    station, prepared = manly
    image = station.references[0].image
    level: float | None = MANLY_WATER_LEVEL
    if case == "night":
        image = (image * 0.08).astype(np.uint8)
    elif case == "portrait":
        image = np.ascontiguousarray(cv2.rotate(image, cv2.ROTATE_90_CLOCKWISE))
    elif case == "no_water_level":
        level = None
    else:
        image = cv2.imread(
            str(shared_datasets / "coastal" / "narrabeen-uav-cirn" / "frames" / "narrabeenFrames0004.jpg")
        )
    result = process_photo(image, prepared, level)
    assert result.status == "flagged"
    assert expected in result.reason
    doc = result_to_geojson(result, station)
    assert doc["features"][0]["geometry"] is None
    assert expected in doc["features"][0]["properties"]["reason"]
