"""Registration of photos to the Manly station's reference: cradle variants succeed, other beaches fail."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from vigie.pipelines.shoreline.registration import (
    RegistrationConfig,
    homography_checks,
    prepare_reference,
    register_photo,
)
from vigie.pipelines.shoreline.station import load_manly_station, manly_dir


@pytest.fixture(scope="module")
def manly(shared_datasets):
    station = load_manly_station(manly_dir(shared_datasets))
    return station, [prepare_reference(station.references[0])]


def test_homography_checks_accept_a_turn_and_refuse_a_fold() -> None:
    config = RegistrationConfig()
    turn = np.array([[1.05, 0.02, 30.0], [-0.02, 1.05, -10.0], [0.0, 0.0, 1.0]])
    assert homography_checks(turn, (1920, 1440), config)[0] is None
    mirror = np.array([[-1.0, 0.0, 1920.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert "fold" in homography_checks(mirror, (1920, 1440), config)[0]
    tiny = np.diag([0.1, 0.1, 1.0])
    assert "zoom" in homography_checks(tiny, (1920, 1440), config)[0]
    keystone = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [4e-4, 0.0, 1.0]])
    assert "perspective" in homography_checks(keystone, (1920, 1440), config)[0]


@pytest.mark.slow
def test_cradle_variants_register_and_carry_the_gcps(manly) -> None:
    from vigie.datasets.eval_shoreline import cradle_variant

    station, refs = manly
    rng = np.random.default_rng(7)
    for _ in range(2):
        variant = cradle_variant(station.references[0], station.camera_guess, rng)
        reg = register_photo(variant.image, refs)
        assert reg.ok, reg.reason
        exact = cv2.perspectiveTransform(station.references[0].gcp_uv.reshape(-1, 1, 2), variant.homography)
        err = np.linalg.norm(reg.gcp_uv - exact.reshape(-1, 2), axis=1)
        assert np.nanmax(err) < 2.0
        assert reg.n_inliers >= 100


@pytest.mark.slow
@pytest.mark.parametrize(
    "other",
    [
        "narrabeen-uav-cirn/frames/narrabeenFrames0001.jpg",
        "duck-argus-cirn/collectionData/c2/1444314601.Thu.Oct.08_14_30_01.GMT.2015.argus02b.c2.timex.jpg",
    ],
)
def test_another_beach_is_rejected_with_a_reason(manly, shared_datasets, other: str) -> None:
    _, refs = manly
    image = cv2.imread(str(shared_datasets / "coastal" / other))
    reg = register_photo(image, refs)
    assert not reg.ok
    assert "another place" in reg.reason or "inlier" in reg.reason


@pytest.mark.slow
def test_a_featureless_photo_is_rejected(manly) -> None:
    _, refs = manly
    grey = np.full((1440, 1920, 3), 128, np.uint8)
    reg = register_photo(grey, refs)
    assert not reg.ok
    assert "keypoints" in reg.reason
