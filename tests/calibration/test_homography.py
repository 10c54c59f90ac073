"""Road-plane homography: exact recovery, reprojection error, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.calibration.homography import fit_homography
from vigie.errors import InvalidInputError

# A known homography (metres → pixels) of a road seen in perspective.
H_TRUE = np.array([[20.0, 4.0, 100.0], [0.0, -6.0, 400.0], [0.0, 0.02, 1.0]])


def project(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.column_stack([pts, np.ones(len(pts))]) @ h.T
    return p[:, :2] / p[:, 2:]


WORLD = np.array([[0, 0], [7, 0], [0, 30], [7, 30], [3.5, 15]], dtype=float)


def test_exact_points_give_zero_error_and_roundtrip() -> None:
    fit = fit_homography(project(H_TRUE, WORLD), WORLD)
    assert fit.rms_error_m < 1e-6 and fit.rms_error_px < 1e-4
    probe = np.array([[2.0, 10.0], [6.0, 25.0]])
    assert np.allclose(fit.to_world(project(H_TRUE, probe)), probe, atol=1e-6)
    assert np.allclose(fit.to_image(probe), project(H_TRUE, probe), atol=1e-4)


def test_a_mistyped_point_shows_in_the_error() -> None:
    image = project(H_TRUE, WORLD)
    image[4] += [15, 0]
    fit = fit_homography(image, WORLD)
    assert fit.max_error_m > 0.1


@pytest.mark.parametrize(
    ("image", "world", "message"),
    [
        (np.zeros((3, 2)), np.zeros((3, 2)), "at least 4"),
        (np.zeros((4, 2)), np.zeros((5, 2)), "4 image points for 5"),
        ([[0, 0], [1, 1], [2, 2], [3, 3]], [[0, 0], [1, 1], [2, 2], [3, 3]], "collinear"),
        (np.zeros((4, 3)), np.zeros((4, 2)), r"\(N, 2\)"),
    ],
)
def test_bad_input(image: object, world: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        fit_homography(image, world)
