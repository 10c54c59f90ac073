"""Time arithmetic of traffic exports: request bounds in a site's time zone, and export bins.

Counts are stored per UTC period. Planners think in local days and hours, so:
- a bound given as a date (`2026-03-29`) means that local day: as a lower bound, its local midnight; as an
  upper bound, the local midnight that ends it (the day is included);
- a bound given as a datetime without offset is local wall time at the site; with an offset, it is used as is;
- export bins are aligned on the site's local clock: hours start at local :00, days at local midnight, so a
  day bin on a DST change lasts 23 or 25 hours and the repeated autumn hour gives two distinct hourly bins.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from vigie.errors import InvalidInputError

# Export bin sizes in minutes: divisors of an hour (so bins never straddle an offset change, which happens
# on the hour) and the local day.
DAY_MINUTES = 1440
EXPORT_BIN_MINUTES = (1, 5, 10, 15, 20, 30, 60, DAY_MINUTES)

_BIN_PATTERN = re.compile(r"^\s*(\d+)\s*(m|min|mn|h|d)?\s*$", re.IGNORECASE)


def site_zone(name: str) -> ZoneInfo:
    """The IANA time zone of a site; a stored name that is not one is a data error worth naming."""
    try:
        return ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: a name too long
        raise InvalidInputError(f"site time zone {name!r} is not an IANA time zone name") from exc


def parse_bin_minutes(value: str | int | None) -> int | None:
    """`15`, `"15min"`, `"1h"`, `"60"`, `"day"`/`"1d"` → minutes; None → None (bins as stored)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str) and value.strip().lower() in {"day", "daily"}:
        return DAY_MINUTES
    if isinstance(value, int):
        minutes = value
    else:
        match = _BIN_PATTERN.match(value)
        if match is None:
            raise InvalidInputError(f"bin {value!r}: expected minutes such as 15, 15min, 1h or day")
        number, unit = int(match.group(1)), (match.group(2) or "m").lower()
        minutes = number * {"m": 1, "min": 1, "mn": 1, "h": 60, "d": DAY_MINUTES}[unit]
    if minutes not in EXPORT_BIN_MINUTES:
        allowed = ", ".join(str(m) for m in EXPORT_BIN_MINUTES[:-1])
        raise InvalidInputError(f"bin {value!r}: expected one of {allowed} minutes or day")
    return minutes


def parse_bound(
    value: str | date | datetime | None, *, zone: ZoneInfo, upper: bool, what: str
) -> datetime | None:
    """A request bound as an aware UTC datetime (see the module docstring for dates and naive times)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed: date | datetime = (
                date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
            )
        except ValueError as exc:
            raise InvalidInputError(
                f"{what} {value!r}: expected a date (2026-11-28) or an ISO 8601 datetime "
                "(2026-11-28T08:00, optionally with an offset such as +01:00)"
            ) from exc
    else:
        parsed = value
    try:
        if not isinstance(parsed, datetime):
            bound = local_midnight(parsed + timedelta(days=1) if upper else parsed, zone)
        else:
            if parsed.tzinfo is None or parsed.utcoffset() is None:
                parsed = parsed.replace(tzinfo=zone)
            bound = parsed.astimezone(UTC)
        bound.astimezone(zone)  # exports show bounds in local time: that must exist too
    except OverflowError as exc:  # the first or last day of the calendar, shifted by the site's offset
        raise InvalidInputError(
            f"{what} {value!r}: too close to year 1 or 9999 for the site's time zone; expected a date "
            "such as 2026-11-28"
        ) from exc
    return bound


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    """Start of local `day` at the site, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def export_bin(instant: datetime, minutes: int, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The export bin `[start, end)` (UTC) holding `instant`, aligned on the site's local clock."""
    local = instant.astimezone(zone)
    if minutes == DAY_MINUTES:
        return local_midnight(local.date(), zone), local_midnight(local.date() + timedelta(days=1), zone)
    # Offsets change on the hour, so within an hour local and UTC clocks advance together: subtracting the
    # local minutes past the bin boundary from the UTC instant lands on the boundary, on either side of a
    # DST change (the two 02:xx hours of an autumn night stay apart).
    past = timedelta(minutes=local.minute % minutes, seconds=local.second, microseconds=local.microsecond)
    start = instant.astimezone(UTC) - past
    return start, start + timedelta(minutes=minutes)


def iso_local(instant: datetime, zone: ZoneInfo) -> str:
    """ISO 8601 with the site's UTC offset, e.g. `2026-10-25T02:00:00+01:00`."""
    return instant.astimezone(zone).isoformat()
