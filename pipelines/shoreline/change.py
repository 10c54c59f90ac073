"""Shoreline change per transect over a time series of shorelines, with DSAS's statistics and conventions.

Positions are distances (m) from each transect's origin along its azimuth, the origin being landward, so a
larger distance is a shoreline further seaward: positive rates mean accretion, negative erosion (DSAS).
Time is in years of 365.2425 days.

- NSM (net shoreline movement, m): youngest − oldest position.
- EPR (end point rate, m/yr): NSM / time between them; its uncertainty combines the two positions'
  uncertainties: sqrt(u_old² + u_young²) / Δt (DSAS "ECI").
- LRR (linear regression rate, m/yr): the least-squares slope of position on time over every shoreline
  that crosses the transect; R², the slope's standard error sqrt(SSres / (n − 2)) / sqrt(Σ(t − t̄)²), and
  a 95 % band slope ± t(0.975, n − 2) · SE (DSAS "LCI95"). Needs 3 shorelines (2 give no residual).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

import numpy as np
from scipy import stats

from vigie.errors import InvalidInputError

DAYS_PER_YEAR = 365.2425
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86400.0


@dataclass(frozen=True, slots=True)
class TransectChange:
    transect: int
    n_shorelines: int
    first: datetime | None
    last: datetime | None
    span_years: float | None
    nsm_m: float | None
    nsm_uncertainty_m: float | None
    epr_m_per_yr: float | None
    epr_uncertainty_m_per_yr: float | None
    lrr_m_per_yr: float | None
    lrr_r2: float | None
    lrr_se_m_per_yr: float | None
    lrr_ci95_m_per_yr: tuple[float, float] | None

    def as_row(self) -> dict[str, object]:
        row = asdict(self)
        row["first"] = None if self.first is None else self.first.isoformat()
        row["last"] = None if self.last is None else self.last.isoformat()
        ci = self.lrr_ci95_m_per_yr
        row.pop("lrr_ci95_m_per_yr")
        row["lrr_ci95_low"], row["lrr_ci95_high"] = (None, None) if ci is None else ci
        return row


def linear_regression_rate(
    years: np.ndarray, positions_m: np.ndarray
) -> tuple[float, float, float | None, tuple[float, float] | None]:
    """(slope m/yr, R², standard error of the slope, 95 % band) of positions on time (years)."""
    t = np.asarray(years, dtype=float)
    d = np.asarray(positions_m, dtype=float)
    n = len(t)
    if n < 2 or len(d) != n:
        raise InvalidInputError(
            f"linear regression rate: expected at least 2 (time, position) pairs, got {n}"
        )
    sxx = float(((t - t.mean()) ** 2).sum())
    if sxx == 0:
        raise InvalidInputError("linear regression rate: every shoreline has the same date; expected 2 dates")
    slope = float(((t - t.mean()) * (d - d.mean())).sum() / sxx)
    fitted = d.mean() + slope * (t - t.mean())
    ss_res = float(((d - fitted) ** 2).sum())
    ss_tot = float(((d - d.mean()) ** 2).sum())
    # Every shoreline at the same place: the line explains all there is to explain.
    r2 = 1.0 if ss_tot == 0 else 1.0 - ss_res / ss_tot
    if n < 3:
        return slope, r2, None, None
    se = math.sqrt(ss_res / (n - 2)) / math.sqrt(sxx)
    half = float(stats.t.ppf(0.975, n - 2)) * se
    return slope, r2, se, (slope - half, slope + half)


def transect_change(
    transect: int,
    times: Sequence[datetime],
    positions_m: Sequence[float | None],
    uncertainties_m: Sequence[float] | None = None,
) -> TransectChange:
    """Statistics of one transect. Missing positions (None/NaN) are skipped; with fewer than 2 left,
    every statistic is None."""
    if len(times) != len(positions_m) or (uncertainties_m is not None and len(uncertainties_m) != len(times)):
        raise InvalidInputError(
            f"transect {transect}: expected one time (and uncertainty) per position, got "
            f"{len(times)} times and {len(positions_m)} positions"
        )
    pos = np.array([np.nan if p is None else float(p) for p in positions_m], dtype=float)
    unc = np.zeros(len(pos)) if uncertainties_m is None else np.asarray(uncertainties_m, dtype=float)
    keep = np.flatnonzero(np.isfinite(pos))
    kept_times = [times[i] for i in keep]
    empty = TransectChange(
        transect, len(keep), None, None, None, None, None, None, None, None, None, None, None
    )
    if len(keep) < 2:
        return empty
    order = sorted(range(len(keep)), key=lambda k: kept_times[k])
    idx = keep[order]
    when = [times[i] for i in idx]
    years = np.array([w.timestamp() for w in when]) / SECONDS_PER_YEAR
    d = pos[idx]
    span = float(years[-1] - years[0])
    if span <= 0:
        return TransectChange(transect, len(keep), when[0], when[-1], 0.0, *([None] * 8))
    nsm = float(d[-1] - d[0])
    nsm_unc = float(math.hypot(unc[idx[0]], unc[idx[-1]]))
    slope, r2, se, ci = linear_regression_rate(years, d)
    return TransectChange(
        transect=transect,
        n_shorelines=len(keep),
        first=when[0],
        last=when[-1],
        span_years=span,
        nsm_m=nsm,
        nsm_uncertainty_m=nsm_unc,
        epr_m_per_yr=nsm / span,
        epr_uncertainty_m_per_yr=nsm_unc / span,
        lrr_m_per_yr=slope,
        lrr_r2=r2,
        lrr_se_m_per_yr=se,
        lrr_ci95_m_per_yr=ci,
    )


def change_table(
    times: Sequence[datetime], positions_m: np.ndarray, uncertainties_m: Sequence[float] | None = None
) -> list[TransectChange]:
    """Statistics of every transect from a (shorelines, transects) matrix of positions (NaN = no crossing)."""
    matrix = np.asarray(positions_m, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != len(times):
        raise InvalidInputError(
            f"change table: expected a (shorelines={len(times)}, transects) matrix, got {matrix.shape}"
        )
    return [transect_change(k, times, list(matrix[:, k]), uncertainties_m) for k in range(matrix.shape[1])]
