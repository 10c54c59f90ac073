"""Camera pose from GCPs: synthetic recovery, CoastSnap's Manly solutions, refusals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vigie.calibration.camera_pose import CameraModel, min_gcps, reprojection_residuals, solve_camera_pose
from vigie.errors import InvalidInputError

TRUE = CameraModel(
    width=1920,
    height=1440,
    focal_px=1500.0,
    x=0.0,
    y=0.0,
    z=17.3,
    azimuth_rad=math.radians(-27.0),
    tilt_rad=math.radians(75.0),
    roll_rad=math.radians(0.4),
)


def _synthetic_gcps(camera: CameraModel, n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # Points on and above the beach in front of the camera, 20-600 m away.
    dist = rng.uniform(20, 600, n)
    bearing = camera.azimuth_rad + rng.uniform(-0.4, 0.4, n)
    xyz = np.stack([dist * np.sin(bearing), dist * np.cos(bearing), rng.uniform(0, 10, n)], axis=1)
    uv, seen = camera.project(xyz)
    assert seen.all()
    return xyz, uv


@pytest.mark.parametrize(
    "fit",
    [
        ("azimuth", "tilt", "roll"),
        ("azimuth", "tilt", "roll", "focal"),
        ("x", "y", "z", "azimuth", "tilt", "roll", "focal"),
    ],
)
def test_recovers_a_known_camera(fit: tuple[str, ...]) -> None:
    xyz, uv = _synthetic_gcps(TRUE, 8)
    start = CameraModel(1920, 1440, 1200.0, 1.5, -1.0, 16.0, math.radians(-20), math.radians(70), 0.0)
    if "x" not in fit:
        start = CameraModel(
            1920,
            1440,
            1500.0 if "focal" not in fit else 1200.0,
            0.0,
            0.0,
            17.3,
            math.radians(-20),
            math.radians(70),
            0.0,
        )
    sol = solve_camera_pose(xyz, uv, start, fit=fit)
    assert sol.rms_px < 1e-3
    assert sol.camera.focal_px == pytest.approx(1500.0, rel=1e-4)
    assert sol.camera.azimuth_rad == pytest.approx(TRUE.azimuth_rad, abs=1e-5)
    assert sol.camera.tilt_rad == pytest.approx(TRUE.tilt_rad, abs=1e-5)
    assert sol.camera.roll_rad == pytest.approx(TRUE.roll_rad, abs=1e-5)


def test_recovers_radial_distortion() -> None:
    truth = CameraModel(
        1920,
        1440,
        1500.0,
        0,
        0,
        17.3,
        TRUE.azimuth_rad,
        TRUE.tilt_rad,
        TRUE.roll_rad,
        distortion=(-0.12, 0.0, 0.0, 0.0, 0.0),
    )
    xyz, uv = _synthetic_gcps(truth, 12, seed=3)
    sol = solve_camera_pose(xyz, uv, TRUE, fit=("azimuth", "tilt", "roll", "focal", "k1"))
    assert sol.rms_px < 1e-2
    assert sol.camera.distortion[0] == pytest.approx(-0.12, abs=1e-3)


def test_noisy_gcps_give_an_rms_of_the_noise() -> None:
    xyz, uv = _synthetic_gcps(TRUE, 20, seed=5)
    noisy = uv + np.random.default_rng(0).normal(0, 2.0, uv.shape)
    sol = solve_camera_pose(xyz, noisy, TRUE)
    assert 1.0 < sol.rms_px < 3.0
    assert np.allclose(reprojection_residuals(sol.camera, xyz, noisy), sol.residuals_px)


def test_refuses_too_few_gcps() -> None:
    xyz, uv = _synthetic_gcps(TRUE, 2)
    with pytest.raises(InvalidInputError, match="needs at least 3 GCPs"):
        solve_camera_pose(xyz, uv, TRUE)
    assert min_gcps(("x", "y", "z", "azimuth", "tilt", "roll", "focal")) == 5


def test_refuses_mismatched_or_bad_arrays() -> None:
    xyz, uv = _synthetic_gcps(TRUE, 5)
    with pytest.raises(InvalidInputError, match="matching"):
        solve_camera_pose(xyz, uv[:4], TRUE)
    with pytest.raises(InvalidInputError, match=r"expected a non-empty subset"):
        solve_camera_pose(xyz, uv, TRUE, fit=("yaw",))
    bad = uv.copy()
    bad[0, 0] = np.nan
    with pytest.raises(InvalidInputError, match="finite"):
        solve_camera_pose(xyz, bad, TRUE)


def test_points_behind_the_camera_are_not_visible() -> None:
    behind = np.array([[0.0, -100.0, 0.0]])  # the camera looks north-north-west
    _, seen = TRUE.project(behind)
    assert not seen[0]


def test_scaled_camera_projects_to_scaled_pixels() -> None:
    xyz, uv = _synthetic_gcps(TRUE, 6)
    half, _ = TRUE.scaled(0.5).project(xyz)
    assert np.allclose(half, (uv + 0.5) * 0.5 - 0.5, atol=1e-6)


def test_manly_coastsnap_gcps_fit_within_a_few_pixels(shared_datasets) -> None:
    from scipy.io import loadmat

    folder = shared_datasets / "coastal" / "manly-coastsnap"
    globs = loadmat(
        folder / "reference-shoreline" / "GlobsOutput.mat", squeeze_me=True, struct_as_record=False
    )
    solved = loadmat(folder / "reference-shoreline" / "UV_computed.mat", squeeze_me=True)
    lcp = globs["globs"].lcp
    start = CameraModel(int(lcp.NU), int(lcp.NV), 0.85 * float(lcp.fx), *np.asarray(globs["beta0"], float))
    sol = solve_camera_pose(globs["xyz"], globs["UV"], start)
    assert sol.rms_px < 6.0
    assert sol.camera.focal_px == pytest.approx(float(lcp.fx), rel=0.01)
    assert np.allclose(sol.camera.betas[3:], solved["betas"][3:], atol=math.radians(0.1))
    # CoastSnap's own solution projects the GCPs where CoastSnap says (our angle convention matches theirs).
    theirs = CameraModel(
        int(lcp.NU), int(lcp.NV), float(lcp.fx), *solved["betas"], cx=float(lcp.c0U), cy=float(lcp.c0V)
    )
    assert np.abs(theirs.project(globs["xyz"])[0] - solved["UV_computed"]).max() < 3.0
