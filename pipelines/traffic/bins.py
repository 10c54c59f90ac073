"""Count bins: crossings per (line, direction, class) over periods aligned in the site's time zone.

Written incrementally and idempotently. The pipeline keeps each open period's counts in memory and
upserts *absolute* counts (never increments), so applying a write twice changes nothing. A restart must
neither lose nor double-count: the first write of a period in a worker run reads what is stored for it,
in the writer's own session:
- stored `observed_until` ≤ this run's first frame in the period → the run continues that bin: the stored
  counts and observed seconds are a baseline added to this run's own;
- otherwise this run is re-processing time already counted (a replayed file) → its counts replace them.

`observed_s` sums the intervals between consecutive frames that are at most `max_gap_s` long; a period
watched less than its duration minus `max_gap_s` is `partial` (a stream that dropped mid-bin, the first
and last period of a run, a bin still open). Every configured (line, direction, class) gets a row, zero
included, so "nobody crossed" differs from "not watched".

How often (a worker may see 5–10 frames/s per camera; the write queue must not grow with the frame rate):
a period is fully written when it opens, at most once per `write_every_s` of frame time while it is open
(so a crash loses little), once when it closes, again only if something changed it since (a frame gap
straddling its end, a late zone sample; a late crossing writes its own row at once), and on `close()`.
A change that does not write at once marks the period `dirty`; an unchanged period is never rewritten.

Other per-period statistics (zones, origin–destination: `vigie.pipelines.traffic.flow_bins`) ride on the
same periods as `extras`: they keep their state in `_Period.extras` (marking the period dirty when they
change it without writing) and are written whenever the period's counts are fully written, with the same
continue-or-replace rule on restart.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigie.errors import InvalidInputError
from vigie.pipelines.base import Write
from vigie.services.traffic_periods import export_bin
from vigie.store.models import CountBin
from vigie.store.upsert import COUNT_BIN_KEY, COUNT_BIN_UPDATED, upsert

log = logging.getLogger(__name__)

BinMinutes = Literal[1, 5, 15, 60]
BIN_CHOICES: tuple[int, ...] = (1, 5, 15, 60)
UPDATED_COLUMNS = (*COUNT_BIN_UPDATED, "observed_s", "observed_until", "mean_speed_kmh", "speed_samples")

Key = tuple[str, str, str]  # line, direction, class


def parse_bin(text: str | int) -> int:
    """'15min', '1h', '5', 60 → minutes (one of 1, 5, 15, 60)."""
    raw = str(text).strip().lower()
    minutes: int | None = None
    for suffix, factor in (("min", 1), ("m", 1), ("h", 60)):
        if raw.endswith(suffix) and raw[: -len(suffix)].strip().isdigit():
            minutes = int(raw[: -len(suffix)]) * factor
            break
    if minutes is None and raw.isdigit():
        minutes = int(raw)
    if minutes not in BIN_CHOICES:
        raise InvalidInputError(f"bin {text!r}: expected 1min, 5min, 15min or 60min (1h)")
    return minutes


def period_of(t: datetime, minutes: int, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The bin holding instant `t`: (start, end) in UTC, the start aligned on `minutes` in local time.

    Uses the UTC offset in force at `t`, so across a DST change every instant falls in exactly one bin and
    bins stay contiguous (the repeated local hour of autumn gives two distinct UTC bins). Same alignment as
    the exports' bins, so one implementation serves both.
    """
    if t.tzinfo is None:
        raise InvalidInputError(f"period_of: time {t.isoformat()} is naive; expected an aware datetime")
    if minutes not in BIN_CHOICES:
        raise InvalidInputError(f"period_of: bin of {minutes} min; expected one of {BIN_CHOICES}")
    return export_bin(t, minutes, tz)


@dataclass(slots=True)
class _Baseline:
    loaded: bool = False
    counts: dict[Key, tuple[int, float, int]] = field(default_factory=dict)  # count, speed sum, speed n
    observed_s: float = 0.0


@dataclass(slots=True)
class _Period:
    start: datetime
    end: datetime
    first_frame: datetime
    last_frame: datetime
    observed_s: float = 0.0
    counts: dict[Key, int] = field(default_factory=dict)
    speed_sum: dict[Key, float] = field(default_factory=dict)
    speed_n: dict[Key, int] = field(default_factory=dict)
    baseline: _Baseline = field(default_factory=_Baseline)  # filled by the writer thread, read only there
    extras: dict[str, Any] = field(default_factory=dict)  # per-period state of each PeriodExtra
    dirty: bool = False  # changed since its last full write
    written_at: datetime | None = None  # frame time of its last full write


class PeriodExtra(Protocol):
    """Statistics binned on CameraBins' periods; `write` snapshots a period's state into a Write."""

    def write(self, bins: CameraBins, period: _Period) -> Write: ...


def continues_stored(stored_until: datetime | None, first_frame: datetime) -> bool:
    """Whether a run whose first frame in a period is `first_frame` continues what is stored for it (stored
    up to before that frame) rather than re-processing it (see the module docstring)."""
    return stored_until is not None and stored_until <= first_frame


class CameraBins:
    """Binned counts of one camera; call `observe` for every frame, `add` for every counted crossing."""

    def __init__(
        self,
        *,
        site_id: int,
        camera_id: int,
        timezone: str,
        bin_minutes: int,
        keys: Iterable[Key],
        model_name: str,
        model_version: str,
        max_gap_s: float = 10.0,
        write_every_s: float = 30.0,
        retain_periods: int = 2,
        extras: Sequence[PeriodExtra] = (),
    ) -> None:
        if bin_minutes not in BIN_CHOICES:
            raise InvalidInputError(f"bin of {bin_minutes} min; expected one of {BIN_CHOICES}")
        self.site_id = site_id
        self.camera_id = camera_id
        self.tz = ZoneInfo(timezone)
        self.minutes = bin_minutes
        self.keys: tuple[Key, ...] = tuple(keys)
        self.model_name = model_name
        self.model_version = model_version
        self.max_gap_s = max_gap_s
        if retain_periods < 1:
            raise InvalidInputError(f"retain_periods {retain_periods}: expected at least 1 (the open period)")
        if write_every_s <= 0:
            raise InvalidInputError(f"write_every_s {write_every_s}: expected a positive number of seconds")
        self.write_every_s = write_every_s
        self.retain_periods = retain_periods
        self.extras = tuple(extras)
        self._periods: dict[datetime, _Period] = {}
        self._last_frame: datetime | None = None

    @property
    def open_periods(self) -> int:
        return len(self._periods)

    def observe(self, t: datetime) -> list[Write]:
        """Account for a frame at `t` (UTC); returns the writes due (see the module docstring)."""
        writes: list[Write] = []
        last = self._last_frame
        if last is not None and t <= last:
            return writes  # a repeated or out-of-order timestamp adds no observed time
        start, end = period_of(t, self.minutes, self.tz)
        if start not in self._periods:
            self._periods[start] = _Period(start=start, end=end, first_frame=t, last_frame=t)
            writes += self._full_writes(self._periods[start], t)  # its zero rows: "watched" from now on
        if last is not None:
            gap = (t - last).total_seconds()
            if gap <= self.max_gap_s:
                self._add_coverage(last, t)
            else:
                log.info("camera %d: no frame for %.1f s; bins over the gap are partial", self.camera_id, gap)
        current = self._periods[start]
        current.last_frame = t
        current.dirty = True
        self._last_frame = t
        for period in sorted(self._periods.values(), key=lambda p: p.start):
            if period.dirty and period.end <= start:
                writes += self._full_writes(period, t)  # closed, or changed since it closed
        while len(self._periods) > self.retain_periods:
            del self._periods[min(self._periods)]  # closed and written above: nothing is dropped unwritten
        since = (t - current.written_at).total_seconds() if current.written_at is not None else None
        if since is None or since >= self.write_every_s:
            # Keeps observed_until fresh, so that a restart after a crash sees a small gap, not a large one.
            writes += self._full_writes(current, t)
        return writes

    def period_at(self, t: datetime) -> _Period | None:
        """The held period holding `t` (None when it is not, or no longer, held)."""
        return self._periods.get(period_of(t, self.minutes, self.tz)[0])

    def periods_overlapping(self, a: datetime, b: datetime) -> list[tuple[_Period, float]]:
        """Held periods overlapping [a, b] with the seconds of the overlap."""
        out = []
        for period in self._periods.values():
            lo, hi = max(a, period.start), min(b, period.end)
            if hi > lo:
                out.append((period, (hi - lo).total_seconds()))
        return out

    def _full_writes(self, period: _Period, t: datetime | None) -> list[Write]:
        period.dirty = False
        if t is not None:
            period.written_at = t
        return [self._write(period, self.keys), *(extra.write(self, period) for extra in self.extras)]

    def _add_coverage(self, a: datetime, b: datetime) -> None:
        for period in self._periods.values():
            lo, hi = max(a, period.start), min(b, period.end)
            if hi > lo:
                period.observed_s += (hi - lo).total_seconds()
                period.dirty = True

    def add(
        self, t: datetime, line: str, direction: str, class_name: str, speed_kmh: float | None = None
    ) -> list[Write]:
        """Count one crossing at `t`; returns the write of its (line, direction, class) row."""
        key = (line, direction, class_name)
        if key not in self.keys:
            return []  # a class or direction this camera does not count
        start, _ = period_of(t, self.minutes, self.tz)
        period = self._periods.get(start)
        if period is None:
            log.warning(
                "camera %d: crossing at %s falls in a period no longer held; not counted", self.camera_id, t
            )
            return []
        period.counts[key] = period.counts.get(key, 0) + 1
        if speed_kmh is not None:
            period.speed_sum[key] = period.speed_sum.get(key, 0.0) + speed_kmh
            period.speed_n[key] = period.speed_n.get(key, 0) + 1
        return [self._write(period, [key])]

    def close(self) -> list[Write]:
        """Final writes of every held period (the worker stops); they stay partial unless fully watched."""
        periods = sorted(self._periods.values(), key=lambda p: p.start)
        writes = [w for p in periods for w in self._full_writes(p, None)]
        self._periods.clear()
        self._last_frame = None
        return writes

    def totals(self) -> dict[Key, int]:
        """This run's own counts over the held periods (for reports and tests)."""
        out: dict[Key, int] = {}
        for period in self._periods.values():
            for key, n in period.counts.items():
                out[key] = out.get(key, 0) + n
        return out

    # --- writes -----------------------------------------------------------------------------------

    def _write(self, period: _Period, keys: Sequence[Key]) -> Write:
        # Snapshot now: the period keeps changing while the write waits in the queue.
        counts = {k: period.counts.get(k, 0) for k in keys}
        speeds = {k: (period.speed_sum.get(k, 0.0), period.speed_n.get(k, 0)) for k in keys}
        observed_s, last_frame, first_frame = period.observed_s, period.last_frame, period.first_frame
        duration = (period.end - period.start).total_seconds()
        baseline = period.baseline
        static = {
            "site_id": self.site_id,
            "camera_id": self.camera_id,
            "period_start": period.start,
            "period_end": period.end,
            "model_name": self.model_name,
            "model_version": self.model_version,
        }

        def write(session: Session) -> None:
            if not baseline.loaded:
                _load_baseline(session, baseline, self.camera_id, period.start, first_frame)
            total_observed = min(duration, baseline.observed_s + observed_s)
            rows = []
            for key, own in counts.items():
                b_count, b_sum, b_n = baseline.counts.get(key, (0, 0.0, 0))
                s_sum, s_n = speeds[key]
                n = b_n + s_n
                rows.append(
                    static
                    | {
                        "line": key[0],
                        "direction": key[1],
                        "class_name": key[2],
                        "count": b_count + own,
                        "partial": total_observed < duration - self.max_gap_s,
                        "observed_s": round(total_observed, 3),
                        "observed_until": last_frame,
                        "mean_speed_kmh": (b_sum + s_sum) / n if n else None,
                        "speed_samples": n or None,
                    }
                )
            upsert(session, CountBin, rows, key=COUNT_BIN_KEY, update=UPDATED_COLUMNS)

        return write


def stored_period_rows(
    session: Session, model: Any, camera_id: int, period_start: datetime, first_frame: datetime
) -> tuple[Sequence[Any], bool]:
    """The rows of `model` (count, zone or OD bins) stored for a camera's period, and whether this run
    continues them (True) or re-processes the period and replaces them (see the module docstring)."""
    stored = session.scalars(
        select(model).where(model.camera_id == camera_id, model.period_start == period_start)
    ).all()
    until = max((r.observed_until for r in stored if r.observed_until is not None), default=None)
    return stored, continues_stored(until, first_frame)


def _load_baseline(
    session: Session, baseline: _Baseline, camera_id: int, period_start: datetime, first_frame: datetime
) -> None:
    """Stored counts of the period that this run continues (see the module docstring)."""
    baseline.loaded = True
    stored, continued = stored_period_rows(session, CountBin, camera_id, period_start, first_frame)
    if not stored:
        return
    if not continued:
        log.info(
            "camera %d: re-processing the bin at %s; replacing its stored counts", camera_id, period_start
        )
        return
    baseline.observed_s = max(r.observed_s or 0.0 for r in stored)
    for r in stored:
        n = r.speed_samples or 0
        baseline.counts[(r.line, r.direction, r.class_name)] = (r.count, (r.mean_speed_kmh or 0.0) * n, n)
    log.info("camera %d: continuing the bin at %s from its stored counts", camera_id, period_start)


def stored_counts(session: Session, camera_id: int) -> Mapping[Key, int]:
    """Total stored count per (line, direction, class) of a camera (reports, tests)."""
    out: dict[Key, int] = {}
    for r in session.scalars(select(CountBin).where(CountBin.camera_id == camera_id)):
        key = (r.line, r.direction, r.class_name)
        out[key] = out.get(key, 0) + r.count
    return out
