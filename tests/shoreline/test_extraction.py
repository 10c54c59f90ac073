"""Red-minus-blue / Otsu shoreline extraction on synthetic beaches and on CoastSnap's reference plan."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.calibration.rectification import PlanGrid, PlanImage
from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.extraction import (
    ExtractionConfig,
    chromaticity_features,
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


SHADOW, FOAM = (105, 95, 85), (235, 240, 240)  # sky-lit sand in a tree shadow; breaking-wave foam
EXPOSURES = [(1.0, 1.0), (0.7, 1.25), (1.3, 0.8), (0.8, 0.8), (1.2, 1.2)]  # (gain, gamma)


def _evening_beach(gain: float, gamma: float, *, seed: int = 1, shore: float = 100.0) -> PlanImage:
    """Sand west of x = shore with diagonal tree-shadow stripes (7 m every 16 m, some touching the water
    line), water east of it with a foam band 14–22 m out, noise, then an exposure change."""
    gx, gy = GRID.mesh()
    image = np.empty((*gx.shape, 3))
    image[:] = SAND
    image[(gx < shore) & ((gx - 0.3 * gy) % 16.0 < 7)] = SHADOW
    image[gx >= shore] = WATER
    image[(gx >= shore + 14) & (gx < shore + 22)] = FOAM
    image += np.random.default_rng(seed).normal(0, 6, image.shape)
    image = np.clip(255 * (np.clip(image, 0, 255) / 255) ** gamma * gain, 0, 255)
    return PlanImage(image=image.astype(np.uint8), valid=np.ones(GRID.shape, bool), grid=GRID, z_m=0.4)


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


def test_chromaticity_ignores_a_gain() -> None:
    image = np.array([[SAND, WATER, SHADOW]], np.uint8)
    dim = (image.astype(float) * 0.6).round().astype(np.uint8)
    a, _ = chromaticity_features(image)
    b, _ = chromaticity_features(dim)
    assert np.abs(a - b).max() < 0.02
    assert a[0, 0] > 0 > a[0, 1]


@pytest.mark.parametrize("method", ["continuity", "global-otsu"])
def test_finds_a_curved_synthetic_shoreline(method: str) -> None:
    y = GRID.y
    shore = 100 + 20 * np.sin(y / 60.0)
    transects = _transects()
    line = extract_shoreline(_beach(shore), transects, ExtractionConfig(method=method))  # type: ignore[arg-type]
    assert len(line) >= 38
    expected = 100 + 20 * np.sin(line.xyz[:, 1] / 60.0)
    # Smoothing over 3 transects 7 m apart bends the sine a little: within a metre.
    assert np.abs(line.xyz[:, 0] - expected).max() < 1.0
    assert np.all(line.xyz[:, 2] == 0.4)
    assert (line.confidence > 0.5).all()


@pytest.mark.parametrize("method", ["continuity", "global-otsu"])
def test_a_blue_tarp_does_not_pull_the_line(method: str) -> None:
    shore = np.full(GRID.shape[0], 100.0)
    plan = _beach(shore)
    # A blue tarp on the sand at one transect makes a false, seaward-looking crossing landward.
    transects = _transects()
    k = 20
    row = round((transects.origin[k, 1] - GRID.y_min) / GRID.resolution_m)
    plan.image[row - 3 : row + 4, int(40 / 0.5) : int(99 / 0.5)] = WATER
    line = extract_shoreline(plan, transects, ExtractionConfig(method=method))  # type: ignore[arg-type]
    assert np.abs(line.xyz[:, 0] - 100).max() < 1.0
    if method == "global-otsu":  # the crossing at the tarp is rejected as an outlier
        assert k not in set(line.transect_index.tolist()) or line.n_rejected >= 1
    else:  # continuity with the neighbours keeps the transect, on the real water line
        assert k in set(line.transect_index.tolist())


def test_shadowed_evening_beach_holds_under_exposure_changes() -> None:
    """Tree shadows on the sand and a foam band at sea give several red-minus-blue edges per transect: the
    first method's choice among them moves with exposure and drifts off the water line; the current one
    stays on it for every exposure."""
    transects = _transects()
    old_err, new_err, new_lines = [], [], []
    for gain, gamma in EXPOSURES:
        plan = _evening_beach(gain, gamma)
        old = extract_shoreline(plan, transects, ExtractionConfig(method="global-otsu"))
        new = extract_shoreline(plan, transects)
        assert len(new) >= 38
        old_err.append(np.abs(old.xyz[:, 0] - 100.0).max())
        new_err.append(np.abs(new.xyz[:, 0] - 100.0).max())
        chain = np.full(len(transects), np.nan)
        chain[new.transect_index] = new.chainage_m
        new_lines.append(chain)
    assert max(new_err) < 3.0, new_err
    # The scene is discriminating: the first method is off by more than the shadow stripe's width.
    assert max(old_err) > 5.0, old_err
    spread = np.nanmax(new_lines, axis=0) - np.nanmin(new_lines, axis=0)
    assert np.nanmax(spread) < 3.0


def test_confidence_follows_bimodality() -> None:
    """A clean edge gets a high confidence; the same edge washed out towards grey gets a lower one."""
    transects = _transects()
    sharp = extract_shoreline(_beach(np.full(GRID.shape[0], 100.0)), transects)
    washed = _beach(np.full(GRID.shape[0], 100.0), noise=0.0)
    grey = np.full(3, 150.0)
    image = 0.85 * grey + 0.15 * washed.image.astype(float)
    image += np.random.default_rng(3).normal(0, 4, image.shape)
    washed = PlanImage(np.clip(image, 0, 255).astype(np.uint8), washed.valid, GRID, 0.4)
    faint = extract_shoreline(washed, transects, ExtractionConfig(min_confidence=0.0))
    assert len(sharp) >= 38 and len(faint) >= 20
    assert np.median(sharp.confidence) > 0.6
    assert np.median(faint.confidence) < np.median(sharp.confidence) - 0.2


def test_unknown_method_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="method"):
        extract_shoreline(_beach(np.full(GRID.shape[0], 100.0)), _transects(), ExtractionConfig(method="x"))  # type: ignore[arg-type]


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
    data = manly_dir(shared_datasets)
    figures = eval_extraction_on_reference_plan(data, station.transects)
    assert figures["compared"] >= 110
    assert figures["rms_m"] < 6.0
    assert abs(figures["mean_m"]) < 2.0


@pytest.mark.slow
def test_manly_2022_plans_agree(shared_datasets) -> None:
    """The 2022 snap's line on CoastSnap's plan image and on a copy with another exposure (gain and gamma
    on the plan) stays where it is: the case the first method failed (two edges under tree shadows)."""
    from vigie.datasets.eval_shoreline import SNAP_2022_RECTZ, chainages_of, coastsnap_plan_image
    from vigie.pipelines.shoreline.station import load_manly_station, manly_dir

    data = manly_dir(shared_datasets)
    transects = load_manly_station(data).transects
    plan = coastsnap_plan_image(next(data.glob("1641108002*.plan.*.mat")), SNAP_2022_RECTZ)
    base = chainages_of(extract_shoreline(plan, transects), len(transects))
    for gain, gamma in [(0.75, 1.2), (1.2, 0.85)]:
        lut = np.clip(255 * (np.arange(256) / 255) ** gamma * gain, 0, 255).astype(np.uint8)
        other = PlanImage(lut[plan.image], plan.valid, plan.grid, plan.z_m)
        moved = chainages_of(extract_shoreline(other, transects), len(transects)) - base
        moved = moved[np.isfinite(moved)]
        assert moved.size >= 100
        assert np.sqrt(np.mean(moved**2)) < 5.0
