"""NSM, EPR, LRR (R², standard error, 95 % band) on hand-made shoreline series with known rates."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.change import (
    DAYS_PER_YEAR,
    change_table,
    linear_regression_rate,
    transect_change,
)

T0 = datetime(2020, 1, 1, tzinfo=UTC)


def years(*values: float) -> list[datetime]:
    return [T0 + timedelta(days=v * DAYS_PER_YEAR) for v in values]


def test_exact_linear_retreat_gives_the_rate_everywhere():
    # 2 m/yr of erosion: the shoreline moves landward, distances from the landward origin shrink.
    times = years(0, 1, 2, 3, 4)
    positions = [100.0, 98.0, 96.0, 94.0, 92.0]
    c = transect_change(7, times, positions)
    assert c.transect == 7 and c.n_shorelines == 5
    assert c.nsm_m == pytest.approx(-8.0)
    assert c.span_years == pytest.approx(4.0)
    assert c.epr_m_per_yr == pytest.approx(-2.0)
    assert c.lrr_m_per_yr == pytest.approx(-2.0)
    assert c.lrr_r2 == pytest.approx(1.0)
    assert c.lrr_se_m_per_yr == pytest.approx(0.0, abs=1e-9)
    assert c.lrr_ci95_m_per_yr == pytest.approx((-2.0, -2.0))


def test_lrr_statistics_match_an_independent_regression():
    times = years(0, 0.5, 1.5, 2, 3.5, 5)
    positions = [50.0, 51.5, 50.8, 53.0, 52.1, 55.4]
    slope, r2, se, ci = linear_regression_rate(np.array([0, 0.5, 1.5, 2, 3.5, 5.0]), np.array(positions))
    ref = stats.linregress([0, 0.5, 1.5, 2, 3.5, 5.0], positions)
    assert slope == pytest.approx(ref.slope)
    assert r2 == pytest.approx(ref.rvalue**2)
    assert se == pytest.approx(ref.stderr)
    half = stats.t.ppf(0.975, 4) * ref.stderr
    assert ci == pytest.approx((ref.slope - half, ref.slope + half))
    c = transect_change(0, times, positions)
    assert c.lrr_m_per_yr == pytest.approx(ref.slope, rel=1e-6)
    # EPR uses only the end points: (55.4 - 50) / 5 years.
    assert c.epr_m_per_yr == pytest.approx(5.4 / 5.0, rel=1e-6)
    assert c.lrr_ci95_m_per_yr[0] < c.lrr_m_per_yr < c.lrr_ci95_m_per_yr[1]


def test_uncertainty_of_nsm_and_epr_combines_end_points():
    c = transect_change(0, years(0, 2), [10.0, 14.0], uncertainties_m=[3.0, 4.0])
    assert c.nsm_uncertainty_m == pytest.approx(5.0)
    assert c.epr_uncertainty_m_per_yr == pytest.approx(2.5)
    # Two shorelines: LRR equals EPR, no residual so no standard error or band.
    assert c.lrr_m_per_yr == pytest.approx(2.0)
    assert c.lrr_se_m_per_yr is None and c.lrr_ci95_m_per_yr is None


def test_unsorted_times_and_missing_positions():
    times = years(3, 0, 1, 2)
    positions = [16.0, None, 12.0, math.nan]  # only t=1 (12 m) and t=3 (16 m) remain
    c = transect_change(2, times, positions)
    assert c.n_shorelines == 2
    assert c.first == times[2] and c.last == times[0]
    assert c.epr_m_per_yr == pytest.approx(2.0)


def test_fewer_than_two_shorelines_give_no_statistics():
    c = transect_change(1, years(0, 1), [None, 5.0])
    assert c.n_shorelines == 1 and c.nsm_m is None and c.lrr_m_per_yr is None


def test_change_table_per_transect_with_different_rates():
    times = years(0, 1, 2)
    matrix = np.array([[0.0, 10.0, 5.0], [1.0, 7.0, 5.0], [2.0, 4.0, 5.0]])
    table = change_table(times, matrix)
    assert [round(c.epr_m_per_yr, 6) for c in table] == [1.0, -3.0, 0.0]
    assert table[2].lrr_r2 == pytest.approx(1.0)  # a stable shoreline is fully explained
    row = table[1].as_row()
    assert row["lrr_ci95_low"] == pytest.approx(-3.0) and row["first"] == times[0].isoformat()


def test_mismatched_inputs_are_refused():
    with pytest.raises(InvalidInputError, match="one time"):
        transect_change(0, years(0, 1), [1.0])
    with pytest.raises(InvalidInputError, match="matrix"):
        change_table(years(0, 1), np.zeros((3, 2)))
    with pytest.raises(InvalidInputError, match="same date"):
        linear_regression_rate(np.array([1.0, 1.0]), np.array([0.0, 1.0]))
