"""Export time arithmetic: local-day bounds and local-clock bins across Europe/Paris DST changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from vigie.errors import InvalidInputError
from vigie.services.traffic_periods import (
    DAY_MINUTES,
    export_bin,
    iso_local,
    parse_bin_minutes,
    parse_bound,
)

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("15", 15), (15, 15), ("15min", 15), ("60", 60), ("1h", 60), ("day", DAY_MINUTES), ("1d", DAY_MINUTES)],
)
def test_parse_bin_minutes(text: str | int, minutes: int) -> None:
    assert parse_bin_minutes(text) == minutes


@pytest.mark.parametrize("text", ["7", "90", "2h", "quarter", "-15"])
def test_parse_bin_minutes_refuses_sizes_that_do_not_tile_the_local_clock(text: str) -> None:
    with pytest.raises(InvalidInputError, match="bin"):
        parse_bin_minutes(text)


def test_date_bounds_are_local_days_including_the_last_one() -> None:
    # 29 March 2026: clocks go forward at 02:00 CET, so the local day lasts 23 hours.
    lower = parse_bound("2026-03-29", zone=PARIS, upper=False, what="from")
    upper = parse_bound("2026-03-29", zone=PARIS, upper=True, what="to")
    assert lower == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert upper == datetime(2026, 3, 29, 22, 0, tzinfo=UTC)
    assert upper - lower == timedelta(hours=23)


def test_naive_datetimes_are_site_wall_time_and_offsets_are_kept() -> None:
    assert parse_bound("2026-07-01T08:00", zone=PARIS, upper=False, what="from") == datetime(
        2026, 7, 1, 6, 0, tzinfo=UTC
    )
    assert parse_bound("2026-07-01T08:00+00:00", zone=PARIS, upper=False, what="from") == datetime(
        2026, 7, 1, 8, 0, tzinfo=UTC
    )


def test_bad_bound_names_the_parameter() -> None:
    with pytest.raises(InvalidInputError, match="from '28/11/2026'"):
        parse_bound("28/11/2026", zone=PARIS, upper=False, what="from")


def test_hour_bins_keep_the_repeated_autumn_hour_apart() -> None:
    # 25 October 2026: 03:00 CEST becomes 02:00 CET; local 02:xx happens twice.
    first = datetime(2026, 10, 25, 0, 15, tzinfo=UTC)  # 02:15 CEST
    second = datetime(2026, 10, 25, 1, 15, tzinfo=UTC)  # 02:15 CET
    start1, end1 = export_bin(first, 60, PARIS)
    start2, end2 = export_bin(second, 60, PARIS)
    assert iso_local(start1, PARIS) == "2026-10-25T02:00:00+02:00"
    assert iso_local(start2, PARIS) == "2026-10-25T02:00:00+01:00"
    assert end1 == start2 and end2 - start2 == timedelta(hours=1)


@pytest.mark.parametrize(("day", "hours"), [("2026-03-29", 23), ("2026-10-25", 25), ("2026-06-01", 24)])
def test_day_bins_follow_local_midnight(day: str, hours: int) -> None:
    noon = datetime.fromisoformat(day + "T12:00").replace(tzinfo=PARIS)
    start, end = export_bin(noon, DAY_MINUTES, PARIS)
    assert iso_local(start, PARIS).startswith(day + "T00:00:00")
    assert end - start == timedelta(hours=hours)


def test_bins_align_on_local_clock_for_half_hour_offsets() -> None:
    kolkata = ZoneInfo("Asia/Kolkata")  # UTC+05:30: local hours start at UTC :30
    start, _ = export_bin(datetime(2026, 1, 1, 3, 45, tzinfo=UTC), 60, kolkata)
    assert start == datetime(2026, 1, 1, 3, 30, tzinfo=UTC)
