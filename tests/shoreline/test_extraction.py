"""Red-minus-blue / Otsu shoreline extraction on a synthetic beach and on CoastSnap's reference plan."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.calibration.rectification import PlanGrid, PlanImage
from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.extraction import (
    extract_shoreline,
    otsu_threshold,
    red_minus_blue,
    transect_chainages,
)
from vigie.pipelines.shoreline.station import Transects

GRID = PlanGrid(0, 200, 0, 300, 0.5)
SAND, WATER = (120, 170, 210), (160, 110, 60)  # BGR: sand is red-rich, water blue-rich


def _beach(shore_x: np.ndarray, *, noise: float = 6.0, seed: int = 0) -> PlanImage:
    """A plan image with sand west of x = shore_x(y) and water east of it, plus colour noise."""
    gx, gy = GRID.mesh()
    rows = np.clip(((gy - GRID.y_min) / GRID.resolution_m).astype(int), 0, len(shore_x) - 1)
    sand = gx < shore_x[rows]
    image = np.where(sand[..., None], np.array(SAND), np.array(WATER)).astype(float)
    image += np.random.default_rng(seed).normal(0, noise, image.shape)
    return PlanImage(
        image=np.clip(image, 0, 255).astype(np.uint8), valid=np.ones(GRID.shape, bool), grid=GRID, z_m=0.4
    )


def _transects(n: int = 40) -> Transects:
    y = np.linspace(10, 290, n)
    return Transects.from_endpoints(np.stack([np.full(n, 20.0), y], 1), np.stack([np.full(n, 180.0), y], 1))


def test_otsu_splits_two_populations() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.normal(-40, 5, 500), rng.normal(50, 5, 800)])
    assert -25 < otsu_threshold(values) < 35
    with pytest.raises(InvalidInputError):
        otsu_threshold(np.ones(10))


def test_red_minus_blue_sign() -> None:
    image = np.array([[SAND, WATER]], np.uint8)
    rmb = red_minus_blue(image)
    assert rmb[0, 0] > 0 > rmb[0, 1]


def test_finds_a_curved_synthetic_shoreline() -> None:
    y = GRID.y
    shore = 100 + 20 * np.sin(y / 60.0)
    transects = _transects()
    line = extract_shoreline(_beach(shore), transects)
    assert len(line) >= 38
    expected = 100 + 20 * np.sin(line.xyz[:, 1] / 60.0)
    # Smoothing over 3 transects 7 m apart bends the sine a little: within a metre.
    assert np.abs(line.xyz[:, 0] - expected).max() < 1.0
    assert np.all(line.xyz[:, 2] == 0.4)
    assert (line.confidence > 0.5).all()


def test_rejects_an_outlier_crossing() -> None:
    shore = np.full(GRID.shape[0], 100.0)
    plan = _beach(shore)
    # A blue tarp on the sand at one transect makes a false, seaward-looking crossing landward.
    transects = _transects()
    k = 20
    row = round((transects.origin[k, 1] - GRID.y_min) / GRID.resolution_m)
    plan.image[row - 3 : row + 4, int(40 / 0.5) : int(99 / 0.5)] = WATER
    line = extract_shoreline(plan, transects)
    assert np.abs(line.xyz[:, 0] - 100).max() < 1.0
    assert k not in set(line.transect_index.tolist()) or line.n_rejected >= 1


def test_unseen_transects_give_no_points() -> None:
    plan = _beach(np.full(GRID.shape[0], 100.0))
    valid = plan.valid.copy()
    valid[: GRID.shape[0] // 2] = False
    half = PlanImage(image=plan.image, valid=valid, grid=GRID, z_m=0.4)
    line = extract_shoreline(half, _transects())
    assert len(line) > 0
    assert (line.xyz[:, 1] > 145).all()


def test_transect_chainages_of_a_straight_line() -> None:
    transects = _transects(5)
    chain = transect_chainages(np.array([[90.0, 0.0], [90.0, 300.0]]), transects)
    assert np.allclose(chain, 70.0)
    assert np.isnan(transect_chainages(np.array([[500.0, 0.0], [500.0, 300.0]]), transects)).all()


@pytest.mark.slow
def test_coastsnap_reference_plan_matches_the_mapped_shoreline(shared_datasets) -> None:
    from vigie.datasets.eval_shoreline import eval_extraction_on_reference_plan
    from vigie.pipelines.shoreline.station import load_manly_station, manly_dir

    station = load_manly_station(manly_dir(shared_datasets))
    figures = eval_extraction_on_reference_plan(manly_dir(shared_datasets), station.transects)
    assert figures["compared"] >= 110
    assert figures["rms_m"] < 6.0
