"""Zone statistics and origin–destination trips per bin, written like the count bins.

Both ride on `CameraBins` periods (`PeriodExtra`): same alignment, same `observed_s` bookkeeping, written
when the period's counts are (opened, at most once per `write_every_s` of frame time while open, closed,
changed after closing: `ZoneBins.observe` marks the periods it changes dirty) and after each event, as
absolute upserts on their unique keys (`zone_bins`, `od_bins`), so applying a write twice changes nothing.
On the first write of a period in a run, what is stored for it is read: stored up to before this run's
first frame → a baseline this run adds to (a restart); otherwise this run replaces it (a replayed file).

Zones, per (zone, class): entries; occupancy sampled on every processed frame and held until the next one,
so `mean_occupancy` is the time-weighted mean over the seconds watched (gaps over `max_gap_s` excluded) and
`max_occupancy` the largest sample; dwell time of each track that left the zone, binned at its exit, as a
mean and a median. The median keeps at most `max_dwell_samples` per period (a uniform reservoir), and
after a restart mid-period the stored median is weighed by its sample count: both are approximations,
exact below those limits.

OD, per (origin line, destination line, class): trips binned at the time of their last crossing. Every
configured key gets a row per watched period, zeros included, as for counts.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from vigie.pipelines.base import Write
from vigie.pipelines.traffic.bins import CameraBins, _Period, stored_period_rows
from vigie.store.models import ODBin, ZoneBin
from vigie.store.upsert import upsert

ZoneKey = tuple[str, str]  # zone, class
ODKey = tuple[str, str, str]  # origin, destination, class

ZONE_BIN_KEY = ("camera_id", "zone", "class_name", "period_start")
OD_BIN_KEY = ("camera_id", "origin", "destination", "class_name", "period_start")
_COMMON_UPDATED = ("period_end", "partial", "observed_s", "observed_until", "model_name", "model_version")
ZONE_BIN_UPDATED = (
    *_COMMON_UPDATED,
    "entries",
    "mean_occupancy",
    "max_occupancy",
    "dwell_samples",
    "mean_dwell_s",
    "median_dwell_s",
)
OD_BIN_UPDATED = (*_COMMON_UPDATED, "count")


def weighted_median(pairs: Sequence[tuple[float, float]]) -> float | None:
    """Median of values with positive weights: the smallest value reaching half the total weight."""
    items = sorted((v, w) for v, w in pairs if w > 0)
    total = sum(w for _, w in items)
    if not items:
        return None
    running = 0.0
    for value, weight in items:
        running += weight
        if running >= total / 2:
            return value
    return items[-1][0]


def _static(bins: CameraBins, period: _Period) -> dict[str, object]:
    return {
        "site_id": bins.site_id,
        "camera_id": bins.camera_id,
        "period_start": period.start,
        "period_end": period.end,
        "model_name": bins.model_name,
        "model_version": bins.model_version,
    }


# --- zones --------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Dwell:
    n: int = 0
    total_s: float = 0.0
    samples: list[float] = field(default_factory=list)  # a uniform reservoir of at most max samples


@dataclass(slots=True)
class _StoredZone:
    entries: int
    occupancy_s: float  # occupancy integrated over time (track-seconds)
    max_occupancy: int
    dwell_n: int
    dwell_total_s: float
    dwell_median_s: float | None


@dataclass(slots=True)
class _ZoneBaseline:
    loaded: bool = False
    observed_s: float = 0.0
    rows: dict[ZoneKey, _StoredZone] = field(default_factory=dict)


@dataclass(slots=True)
class _ZonePeriod:
    observed_s: float = 0.0
    entries: dict[ZoneKey, int] = field(default_factory=dict)
    occupancy_s: dict[ZoneKey, float] = field(default_factory=dict)
    max_occupancy: dict[ZoneKey, int] = field(default_factory=dict)
    dwell: dict[ZoneKey, _Dwell] = field(default_factory=dict)
    baseline: _ZoneBaseline = field(default_factory=_ZoneBaseline)  # read and filled by the writer only


class ZoneBins:
    """Per-period zone statistics of one camera; feed `observe` once per processed frame, `enter`/`exit`
    for each zone event."""

    name = "zones"

    def __init__(
        self, *, zones: Sequence[str], classes: Sequence[str], max_dwell_samples: int = 10_000
    ) -> None:
        self.keys: tuple[ZoneKey, ...] = tuple((z, c) for z in zones for c in classes)
        self.max_dwell_samples = max_dwell_samples
        self._last: tuple[datetime, dict[ZoneKey, int]] | None = None
        self._random = random.Random(0)  # reservoir sampling, reproducible

    def _state(self, period: _Period) -> _ZonePeriod:
        state = period.extras.get(self.name)
        if state is None:
            state = period.extras[self.name] = _ZonePeriod()
        return state

    def observe(self, bins: CameraBins, t: datetime, occupancy: Mapping[ZoneKey, int]) -> None:
        """Occupancy at processed frame `t`; the previous sample is held over [previous frame, t]."""
        if self._last is not None:
            last_t, last_occupancy = self._last
            if t <= last_t:
                return
            if (t - last_t).total_seconds() <= bins.max_gap_s:
                for period, seconds in bins.periods_overlapping(last_t, t):
                    period.dirty = True  # not written here: CameraBins writes it when due
                    state = self._state(period)
                    state.observed_s += seconds
                    for key, n in last_occupancy.items():
                        state.occupancy_s[key] = state.occupancy_s.get(key, 0.0) + n * seconds
        period = bins.period_at(t)
        if period is not None:
            period.dirty = True
            state = self._state(period)
            for key, n in occupancy.items():
                state.max_occupancy[key] = max(state.max_occupancy.get(key, 0), n)
        self._last = (t, {k: n for k, n in occupancy.items() if k in self.keys})

    def enter(self, bins: CameraBins, t: datetime, zone: str, class_name: str) -> list[Write]:
        period = bins.period_at(t)
        if period is None or (zone, class_name) not in self.keys:
            return []
        entries = self._state(period).entries
        entries[(zone, class_name)] = entries.get((zone, class_name), 0) + 1
        return [self.write(bins, period)]

    def exit(self, bins: CameraBins, t: datetime, zone: str, class_name: str, dwell_s: float) -> list[Write]:
        period = bins.period_at(t)
        if period is None or (zone, class_name) not in self.keys:
            return []
        dwell = self._state(period).dwell.setdefault((zone, class_name), _Dwell())
        dwell.n += 1
        dwell.total_s += dwell_s
        if len(dwell.samples) < self.max_dwell_samples:
            dwell.samples.append(dwell_s)
        else:
            slot = self._random.randrange(dwell.n)
            if slot < self.max_dwell_samples:
                dwell.samples[slot] = dwell_s
        return [self.write(bins, period)]

    def write(self, bins: CameraBins, period: _Period) -> Write:
        state = self._state(period)
        # Snapshot now: the period keeps changing while the write waits in the queue.
        entries, occupancy_s = dict(state.entries), dict(state.occupancy_s)
        max_occupancy, observed_s = dict(state.max_occupancy), state.observed_s
        dwell = {k: (d.n, d.total_s, tuple(d.samples)) for k, d in state.dwell.items()}
        first_frame, last_frame = period.first_frame, period.last_frame
        duration = (period.end - period.start).total_seconds()
        baseline, static, keys = state.baseline, _static(bins, period), self.keys

        def write(session: Session) -> None:
            if not baseline.loaded:
                _load_zone_baseline(session, baseline, bins.camera_id, period.start, first_frame)
            watched = baseline.observed_s + observed_s
            rows = []
            for key in keys:
                b = baseline.rows.get(key) or _StoredZone(0, 0.0, 0, 0, 0.0, None)
                n_own, total_own, samples = dwell.get(key, (0, 0.0, ()))
                n = b.dwell_n + n_own
                weights = [(s, n_own / len(samples)) for s in samples]
                if b.dwell_median_s is not None:
                    weights.append((b.dwell_median_s, float(b.dwell_n)))
                rows.append(
                    static
                    | {
                        "zone": key[0],
                        "class_name": key[1],
                        "entries": b.entries + entries.get(key, 0),
                        "mean_occupancy": (b.occupancy_s + occupancy_s.get(key, 0.0)) / watched
                        if watched > 0
                        else None,
                        "max_occupancy": max(b.max_occupancy, max_occupancy.get(key, 0)),
                        "dwell_samples": n,
                        "mean_dwell_s": (b.dwell_total_s + total_own) / n if n else None,
                        "median_dwell_s": weighted_median(weights),
                        "partial": watched < duration - bins.max_gap_s,
                        "observed_s": round(min(duration, watched), 3),
                        "observed_until": last_frame,
                    }
                )
            upsert(session, ZoneBin, rows, key=ZONE_BIN_KEY, update=ZONE_BIN_UPDATED)

        return write


def _load_zone_baseline(
    session: Session, baseline: _ZoneBaseline, camera_id: int, period_start: datetime, first_frame: datetime
) -> None:
    baseline.loaded = True
    stored, continued = stored_period_rows(session, ZoneBin, camera_id, period_start, first_frame)
    if not continued:
        return  # nothing stored, or this run re-processes the period: replace it
    baseline.observed_s = max(r.observed_s or 0.0 for r in stored)
    for r in stored:
        baseline.rows[(r.zone, r.class_name)] = _StoredZone(
            entries=r.entries,
            occupancy_s=(r.mean_occupancy or 0.0) * (r.observed_s or 0.0),
            max_occupancy=r.max_occupancy,
            dwell_n=r.dwell_samples,
            dwell_total_s=(r.mean_dwell_s or 0.0) * r.dwell_samples,
            dwell_median_s=r.median_dwell_s,
        )


# --- origin–destination -------------------------------------------------------------------------------


@dataclass(slots=True)
class _ODBaseline:
    loaded: bool = False
    observed_s: float = 0.0
    counts: dict[ODKey, int] = field(default_factory=dict)


@dataclass(slots=True)
class _ODPeriod:
    counts: dict[ODKey, int] = field(default_factory=dict)
    baseline: _ODBaseline = field(default_factory=_ODBaseline)


class ODBins:
    """Per-period origin–destination trips of one camera between its counting lines."""

    name = "od"

    def __init__(self, *, lines: Sequence[str], classes: Sequence[str]) -> None:
        self.keys: tuple[ODKey, ...] = tuple(
            (o, d, c) for o in lines for d in lines if o != d for c in classes
        )

    def _state(self, period: _Period) -> _ODPeriod:
        state = period.extras.get(self.name)
        if state is None:
            state = period.extras[self.name] = _ODPeriod()
        return state

    def add(
        self, bins: CameraBins, t: datetime, origin: str, destination: str, class_name: str
    ) -> list[Write]:
        """Count one trip whose last crossing was at `t`."""
        key = (origin, destination, class_name)
        period = bins.period_at(t)
        if period is None or key not in self.keys:
            return []
        counts = self._state(period).counts
        counts[key] = counts.get(key, 0) + 1
        return [self.write(bins, period)]

    def write(self, bins: CameraBins, period: _Period) -> Write:
        state = self._state(period)
        counts, observed_s = dict(state.counts), period.observed_s
        first_frame, last_frame = period.first_frame, period.last_frame
        duration = (period.end - period.start).total_seconds()
        baseline, static, keys = state.baseline, _static(bins, period), self.keys

        def write(session: Session) -> None:
            if not baseline.loaded:
                _load_od_baseline(session, baseline, bins.camera_id, period.start, first_frame)
            watched = min(duration, baseline.observed_s + observed_s)
            rows = [
                static
                | {
                    "origin": key[0],
                    "destination": key[1],
                    "class_name": key[2],
                    "count": baseline.counts.get(key, 0) + counts.get(key, 0),
                    "partial": watched < duration - bins.max_gap_s,
                    "observed_s": round(watched, 3),
                    "observed_until": last_frame,
                }
                for key in keys
            ]
            upsert(session, ODBin, rows, key=OD_BIN_KEY, update=OD_BIN_UPDATED)

        return write


def _load_od_baseline(
    session: Session, baseline: _ODBaseline, camera_id: int, period_start: datetime, first_frame: datetime
) -> None:
    baseline.loaded = True
    stored, continued = stored_period_rows(session, ODBin, camera_id, period_start, first_frame)
    if not continued:
        return
    baseline.observed_s = max(r.observed_s or 0.0 for r in stored)
    baseline.counts = {(r.origin, r.destination, r.class_name): r.count for r in stored}
