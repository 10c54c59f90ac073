"""Water level at a photo's time: a measured series interpolated in time, or a harmonic tide prediction.

A shoreline is rectified at the water level of the moment the photo was taken (metres, in the station's
vertical datum, the same as the GCPs' z). Two sources, tried in this order by `water_level_at`:

- a time series (tide gauge or published predictions, e.g. a CSV of `time,level_m` rows): linear
  interpolation between the two samples around the time, refused when they are further apart than
  `max_gap` (a missing stretch of gauge data must not become a straight line across a tide cycle);
- harmonic constituents: h(t) = z0 + Σ A_i cos(ω_i (t − epoch) − φ_i), with ω in degrees per hour
  (M2 = 28.9841042 °/h) and phases in degrees relative to the epoch.

When neither covers the time the level is None, and the photo is flagged "missing water level".
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from vigie.errors import InvalidInputError
from vigie.store.types import ensure_utc

DEFAULT_MAX_GAP = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class WaterLevelSample:
    at: datetime  # aware UTC
    level_m: float


def _aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError(f"{what}: expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class WaterLevelSeries:
    """Samples sorted by time (duplicated instants refused)."""

    times_s: np.ndarray  # POSIX seconds, increasing
    levels_m: np.ndarray
    max_gap: timedelta = DEFAULT_MAX_GAP

    @classmethod
    def from_samples(
        cls, samples: Iterable[WaterLevelSample], *, max_gap: timedelta = DEFAULT_MAX_GAP
    ) -> WaterLevelSeries:
        pairs = sorted((_aware(s.at, "water level time").timestamp(), float(s.level_m)) for s in samples)
        times = np.array([p[0] for p in pairs], dtype=float)
        levels = np.array([p[1] for p in pairs], dtype=float)
        if len(times) and not np.isfinite(levels).all():
            raise InvalidInputError("water levels: every level must be a finite number of metres")
        if len(times) > 1 and (np.diff(times) == 0).any():
            i = int(np.flatnonzero(np.diff(times) == 0)[0])
            at = datetime.fromtimestamp(times[i], UTC).isoformat()
            raise InvalidInputError(f"water levels: two samples at {at}; expected one level per instant")
        return cls(times_s=times, levels_m=levels, max_gap=max_gap)

    def __len__(self) -> int:
        return len(self.times_s)

    def level_at(self, at: datetime) -> float | None:
        """The interpolated level at `at`, or None outside the series or across a gap above `max_gap`."""
        if not len(self):
            return None
        t = _aware(at, "photo time").timestamp()
        i = int(np.searchsorted(self.times_s, t))
        if i < len(self) and self.times_s[i] == t:
            return float(self.levels_m[i])
        if i == 0 or i == len(self):
            return None
        t0, t1 = self.times_s[i - 1], self.times_s[i]
        if t1 - t0 > self.max_gap.total_seconds():
            return None
        frac = (t - t0) / (t1 - t0)
        return float(self.levels_m[i - 1] + frac * (self.levels_m[i] - self.levels_m[i - 1]))


def _parse_time(text: str, where: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInputError(
            f"{where}: time {text!r} is not ISO 8601 (e.g. 2024-01-02T07:20:00+00:00)"
        ) from exc
    if value.tzinfo is None:
        raise InvalidInputError(
            f"{where}: time {text!r} has no UTC offset; expected e.g. 2024-01-02T07:20:00Z"
        )
    return ensure_utc(value, what=f"{where}: time")


def parse_water_level_csv(text: str, *, name: str = "water levels CSV") -> list[WaterLevelSample]:
    """Rows `time,level_m` (ISO 8601 with offset; a header row and `#` comments are allowed; `,` or `;`)."""
    delimiter = ";" if text.count(";") > text.count(",") else ","
    samples: list[WaterLevelSample] = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        for number, row in enumerate(reader, start=1):
            _add_row(samples, row, number=number, name=name, delimiter=delimiter)
    except csv.Error as exc:  # a stray quote before a line break, a cell over the csv module's limit
        raise InvalidInputError(f"{name} line {reader.line_num}: not readable as CSV ({exc})") from exc
    if not samples:
        raise InvalidInputError(f"{name}: no `time,level_m` rows found")
    return samples


def _add_row(
    samples: list[WaterLevelSample], row: list[str], *, number: int, name: str, delimiter: str
) -> None:
    """Append the sample of one CSV row; skip blanks, comments and a header row."""
    if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
        return
    where = f"{name} line {number}"
    if len(row) < 2:
        raise InvalidInputError(f"{where}: expected `time,level_m`, got {delimiter.join(row)!r}")
    try:
        level = float(row[1].replace(",", ".") if delimiter == ";" else row[1])
    except ValueError as exc:
        if not samples and number == 1:  # a header row
            return
        raise InvalidInputError(f"{where}: level {row[1]!r} is not a number of metres") from exc
    if not math.isfinite(level):
        raise InvalidInputError(f"{where}: level {row[1]!r} is not a finite number of metres")
    samples.append(WaterLevelSample(at=_parse_time(row[0], where), level_m=level))


def read_water_level_csv(path: Path) -> list[WaterLevelSample]:
    path = Path(path)
    if not path.is_file():
        raise InvalidInputError(f"water levels file {path} does not exist")
    return parse_water_level_csv(path.read_text(encoding="utf-8-sig"), name=str(path))


@dataclass(frozen=True, slots=True)
class Constituent:
    name: str
    amplitude_m: float
    phase_deg: float  # relative to the model's epoch
    speed_deg_per_h: float


@dataclass(frozen=True, slots=True)
class HarmonicTide:
    """A tide prediction from constituents; `valid_from`/`valid_to` bound where it may be used (optional)."""

    epoch: datetime
    mean_level_m: float
    constituents: tuple[Constituent, ...]
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def level_at(self, at: datetime) -> float | None:
        at = _aware(at, "photo time")
        if (self.valid_from and at < self.valid_from) or (self.valid_to and at > self.valid_to):
            return None
        hours = (at - self.epoch).total_seconds() / 3600.0
        return float(
            self.mean_level_m
            + sum(
                c.amplitude_m * math.cos(math.radians(c.speed_deg_per_h * hours - c.phase_deg))
                for c in self.constituents
            )
        )

    @classmethod
    def from_mapping(cls, value: dict[str, Any], *, where: str = "tide") -> HarmonicTide:
        """From the JSON stored on a station: {epoch, mean_level_m, constituents: [{name, amplitude_m,
        phase_deg, speed_deg_per_h}], valid_from?, valid_to?}."""
        try:
            constituents = tuple(
                Constituent(
                    name=str(c["name"]),
                    amplitude_m=float(c["amplitude_m"]),
                    phase_deg=float(c["phase_deg"]),
                    speed_deg_per_h=float(c["speed_deg_per_h"]),
                )
                for c in value["constituents"]
            )
            epoch = _parse_time(str(value["epoch"]), where)
            mean = float(value.get("mean_level_m", 0.0))
        except KeyError as exc:
            raise InvalidInputError(
                f"{where}: missing {exc.args[0]!r} (expected epoch, mean_level_m and "
                "constituents of name, amplitude_m, phase_deg, speed_deg_per_h)"
            ) from exc
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"{where}: constituents must hold numbers ({exc})") from exc
        if not constituents:
            raise InvalidInputError(f"{where}: expected at least one constituent")
        bounds = [
            None if value.get(k) is None else _parse_time(str(value[k]), where)
            for k in ("valid_from", "valid_to")
        ]
        return cls(
            epoch=epoch,
            mean_level_m=mean,
            constituents=constituents,
            valid_from=bounds[0],
            valid_to=bounds[1],
        )


def water_level_at(
    at: datetime | None, *, series: WaterLevelSeries | None = None, tide: HarmonicTide | None = None
) -> tuple[float | None, str | None]:
    """(level, source) at `at`: the measured series first, then the harmonic prediction; (None, None) when
    neither covers it (or the photo's time is unknown)."""
    if at is None:
        return None, None
    if series is not None:
        level = series.level_at(at)
        if level is not None:
            return level, "series"
    if tide is not None:
        level = tide.level_at(at)
        if level is not None:
            return level, "harmonic"
    return None, None


def samples_from_pairs(pairs: Sequence[tuple[datetime, float]]) -> list[WaterLevelSample]:
    return [WaterLevelSample(at=_aware(t, "water level time"), level_m=float(v)) for t, v in pairs]
