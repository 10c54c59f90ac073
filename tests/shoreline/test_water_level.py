"""Water level at a photo's time: interpolated series, harmonic constituents, missing → None."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from vigie.errors import InvalidInputError
from vigie.pipelines.shoreline.water_level import (
    Constituent,
    HarmonicTide,
    WaterLevelSample,
    WaterLevelSeries,
    parse_water_level_csv,
    water_level_at,
)

T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def series(*pairs: tuple[float, float], max_gap_h: float = 1.0) -> WaterLevelSeries:
    return WaterLevelSeries.from_samples(
        [WaterLevelSample(T0 + timedelta(minutes=m), v) for m, v in pairs], max_gap=timedelta(hours=max_gap_h)
    )


def test_linear_interpolation_between_samples():
    s = series((0, 1.0), (10, 2.0), (20, 0.0))
    assert s.level_at(T0 + timedelta(minutes=2.5)) == pytest.approx(1.25)
    assert s.level_at(T0 + timedelta(minutes=15)) == pytest.approx(1.0)
    assert s.level_at(T0 + timedelta(minutes=10)) == pytest.approx(2.0)


def test_outside_the_series_or_across_a_gap_is_missing():
    s = series((0, 1.0), (10, 2.0), (200, 0.0))
    assert s.level_at(T0 - timedelta(minutes=1)) is None
    assert s.level_at(T0 + timedelta(minutes=201)) is None
    assert s.level_at(T0 + timedelta(minutes=100)) is None  # 190 min between samples > 1 h


def test_naive_times_and_duplicates_are_refused():
    with pytest.raises(InvalidInputError, match="timezone-aware"):
        series((0, 1.0)).level_at(datetime(2026, 5, 1, 12))
    with pytest.raises(InvalidInputError, match="two samples"):
        series((0, 1.0), (0, 1.5))


def test_csv_parsing_with_header_comments_and_semicolons():
    text = "time,level_m\n# gauge 12\n2026-05-01T12:00:00Z,0.50\n2026-05-01T12:10:00+02:00,0.7\n"
    samples = parse_water_level_csv(text)
    assert [s.level_m for s in samples] == [0.5, 0.7]
    assert samples[1].at == datetime(2026, 5, 1, 10, 10, tzinfo=UTC)
    french = parse_water_level_csv("date;niveau\n2026-05-01T12:00:00Z;1,25\n")
    assert french[0].level_m == 1.25


@pytest.mark.parametrize(
    "text, match",
    [
        ("2026-05-01T12:00:00,0.5\n", "no UTC offset"),
        ("2026-05-01T12:00:00Z,high\n2026-05-01T13:00:00Z,x\n", "not a number"),
        ("yesterday,0.5\n", "not ISO 8601"),
        ("time,level\n", "no `time,level_m` rows"),
    ],
)
def test_csv_errors_name_the_line(text, match):
    with pytest.raises(InvalidInputError, match=match):
        parse_water_level_csv(text)


def test_harmonic_sum_of_constituents():
    m2 = Constituent("M2", amplitude_m=1.2, phase_deg=30.0, speed_deg_per_h=28.9841042)
    s2 = Constituent("S2", amplitude_m=0.4, phase_deg=-10.0, speed_deg_per_h=30.0)
    tide = HarmonicTide(epoch=T0, mean_level_m=0.1, constituents=(m2, s2))
    at = T0 + timedelta(hours=3)
    expected = 0.1 + 1.2 * math.cos(math.radians(28.9841042 * 3 - 30)) + 0.4 * math.cos(math.radians(90 + 10))
    assert tide.level_at(at) == pytest.approx(expected)
    # One M2 period later the M2 term repeats.
    period_h = 360 / 28.9841042
    only_m2 = HarmonicTide(epoch=T0, mean_level_m=0.0, constituents=(m2,))
    assert only_m2.level_at(T0 + timedelta(hours=period_h)) == pytest.approx(only_m2.level_at(T0))


def test_harmonic_from_mapping_and_validity_window():
    tide = HarmonicTide.from_mapping(
        {
            "epoch": "2026-05-01T12:00:00Z",
            "mean_level_m": 0.2,
            "valid_to": "2026-06-01T00:00:00Z",
            "constituents": [
                {"name": "M2", "amplitude_m": 1.0, "phase_deg": 0, "speed_deg_per_h": 28.9841042}
            ],
        }
    )
    assert tide.level_at(T0) == pytest.approx(1.2)
    assert tide.level_at(datetime(2026, 7, 1, tzinfo=UTC)) is None
    with pytest.raises(InvalidInputError, match="missing 'constituents'"):
        HarmonicTide.from_mapping({"epoch": "2026-05-01T12:00:00Z"})


def test_series_first_then_harmonic_then_missing():
    s = series((0, 1.0), (10, 2.0))
    tide = HarmonicTide(epoch=T0, mean_level_m=0.3, constituents=(Constituent("Z", 0.0, 0.0, 1.0),))
    assert water_level_at(T0 + timedelta(minutes=5), series=s, tide=tide) == (pytest.approx(1.5), "series")
    assert water_level_at(T0 + timedelta(days=3), series=s, tide=tide) == (pytest.approx(0.3), "harmonic")
    assert water_level_at(T0 + timedelta(days=3), series=s) == (None, None)
    assert water_level_at(None, series=s, tide=tide) == (None, None)
