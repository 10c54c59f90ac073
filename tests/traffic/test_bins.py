"""Bins: local-time alignment across DST, idempotent absolute upserts, restart, dropped stream, and a
number of writes that grows with the periods watched, not with the frame rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from vigie.errors import InvalidInputError
from vigie.pipelines.traffic.bins import CameraBins, parse_bin, period_of
from vigie.pipelines.traffic.flow_bins import ODBins, ZoneBins
from vigie.services.traffic_periods import export_bin
from vigie.store.db import session_scope
from vigie.store.models import Camera, CountBin, Site, ZoneBin

PARIS = ZoneInfo("Europe/Paris")
KEYS = [("quai", d, c) for d in ("in", "out") for c in ("car", "heavy")]


@pytest.mark.parametrize("day", ["2026-03-29", "2026-10-25"])  # spring forward, fall back
@pytest.mark.parametrize("minutes", [1, 5, 15, 60])
def test_bins_are_contiguous_and_locally_aligned_across_dst(day: str, minutes: int) -> None:
    local_midnight = datetime.fromisoformat(day).replace(tzinfo=PARIS)
    t = local_midnight.astimezone(UTC)
    end = (local_midnight + timedelta(days=1)).astimezone(UTC) + timedelta(hours=1)
    starts = []
    while t < end:
        start, stop = period_of(t, minutes, PARIS)
        assert start <= t < stop and stop - start == timedelta(minutes=minutes)
        local = start.astimezone(PARIS)
        assert local.second == 0 and local.minute % minutes == 0
        if not starts or starts[-1] != start:
            if starts:
                assert start == starts[-1] + timedelta(minutes=minutes)  # no hole, no overlap
            starts.append(start)
        t += timedelta(seconds=37)
    hours = {s.astimezone(PARIS).date().isoformat(): 0 for s in starts}
    for s in starts:
        hours[s.astimezone(PARIS).date().isoformat()] += minutes
    assert hours[day] == {"2026-03-29": 23, "2026-10-25": 25}[day] * 60  # the local day's real length


@pytest.mark.parametrize("zone", ["Europe/Paris", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns"])
def test_pipeline_periods_are_the_export_bins(zone: str) -> None:
    tz = ZoneInfo(zone)  # whole, half and quarter-hour offsets, with and without DST
    t = datetime(2026, 3, 7, tzinfo=UTC)
    while t < datetime(2026, 3, 31, tzinfo=UTC):
        for minutes in (1, 5, 15, 60):
            assert period_of(t, minutes, tz) == export_bin(t, minutes, tz)
        t += timedelta(minutes=7, seconds=13, microseconds=250_000)


def test_naive_time_and_bad_bin_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="naive"):
        period_of(datetime(2026, 1, 1), 15, PARIS)
    with pytest.raises(InvalidInputError, match="1min, 5min, 15min or 60min"):
        parse_bin("10min")
    assert parse_bin("1h") == 60 and parse_bin("15min") == 15


def _camera(engine) -> tuple[int, int]:
    with session_scope(engine) as s:
        site = Site(slug="fecamp", name="Fécamp", kind="traffic")
        s.add(site)
        s.flush()
        cam = Camera(site_id=site.id, slug="quai", name="Quai", role="traffic")
        s.add(cam)
        s.flush()
        return site.id, cam.id


def _bins(site_id: int, camera_id: int, extras=()) -> CameraBins:
    return CameraBins(
        site_id=site_id, camera_id=camera_id, timezone="Europe/Paris", bin_minutes=15, keys=KEYS,
        model_name="coco-yolov4-tiny", model_version="0.1.2", max_gap_s=10, extras=extras,
    )  # fmt: skip


def _apply(engine, writes) -> None:
    with session_scope(engine) as s:
        for w in writes:
            w(s)


def _run(bins: CameraBins, start: datetime, seconds: int, cars_at: list[int]) -> list:
    writes = []
    for i in range(seconds + 1):
        t = start + timedelta(seconds=i)
        writes += bins.observe(t)
        if i in cars_at:
            writes += bins.add(t, "quai", "out", "car")
    return writes


def _stored(engine, camera_id: int) -> dict:
    with session_scope(engine) as s:
        rows = s.scalars(select(CountBin).where(CountBin.camera_id == camera_id)).all()
        return {(r.period_start, r.direction, r.class_name): (r.count, r.partial) for r in rows}


T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def test_restart_neither_loses_nor_double_counts(engine) -> None:
    site_id, camera_id = _camera(engine)
    first = _bins(site_id, camera_id)
    writes = _run(first, T0, 300, cars_at=[10, 100, 200]) + first.close()
    _apply(engine, writes)
    _apply(engine, writes)  # a write applied twice changes nothing: counts are absolute
    stored = _stored(engine, camera_id)
    assert stored[(T0, "out", "car")] == (3, True)  # the bin is still open: partial so far
    # The worker restarts 4 s later and watches the rest of the bin and a bit of the next one.
    second = _bins(site_id, camera_id)
    _apply(engine, _run(second, T0 + timedelta(seconds=304), 620, cars_at=[5, 50, 610]) + second.close())
    stored = _stored(engine, camera_id)
    assert stored[(T0, "out", "car")] == (5, False)  # 3 + 2, and the bin was watched but for 4 s
    assert stored[(T0 + timedelta(minutes=15), "out", "car")] == (1, True)
    assert stored[(T0, "in", "heavy")] == (0, False)  # zero rows tell "nobody" from "not watched"


def test_replaying_the_same_video_replaces_its_counts(engine) -> None:
    site_id, camera_id = _camera(engine)
    for _ in range(2):
        bins = _bins(site_id, camera_id)
        _apply(engine, _run(bins, T0, 300, cars_at=[10, 100, 200]) + bins.close())
    assert _stored(engine, camera_id)[(T0, "out", "car")] == (3, True)


def test_stream_dropping_mid_bin_closes_it_partial(engine) -> None:
    site_id, camera_id = _camera(engine)
    bins = _bins(site_id, camera_id)
    writes = _run(bins, T0, 180, cars_at=[30, 60])
    # The stream comes back 20 minutes later: the first bin is closed with its counts, marked partial.
    writes += _run(bins, T0 + timedelta(minutes=20), 60, cars_at=[10])
    _apply(engine, writes)
    stored = _stored(engine, camera_id)
    assert stored[(T0, "out", "car")] == (2, True)
    assert stored[(T0 + timedelta(minutes=15), "out", "car")] == (1, True)
    assert bins.open_periods <= 2


def _zone_and_od() -> tuple[ZoneBins, ODBins]:
    return ZoneBins(zones=["parvis"], classes=["car", "heavy"]), ODBins(
        lines=["quai", "pont"], classes=["car"]
    )


@pytest.mark.parametrize("fps", [1, 5])
def test_writes_grow_with_periods_not_frames(fps: int) -> None:
    zones, od = _zone_and_od()
    bins = _bins(1, 1, extras=[zones, od])
    hours, frames, writes = 2, 0, 0
    t, end = T0, T0 + timedelta(hours=hours)
    while t < end:
        writes += len(bins.observe(t))
        zones.observe(bins, t, {("parvis", "car"): frames % 3})
        frames += 1
        t += timedelta(seconds=1 / fps)
    writes += len(bins.close())
    periods = hours * 60 // 15
    assert frames == hours * 3600 * fps
    # Each write upserts every key of one period and one table (counts, zones, OD). Per period: opened,
    # rewritten at most once per write_every_s while open, closed, rewritten once for the last zone sample
    # that straddles its end, and the final close(): bounded by the periods watched, whatever the frame rate.
    per_period = 1 + 15 * 60 / bins.write_every_s + 1 + 1 + 1
    assert writes <= periods * per_period * (1 + len(bins.extras))
    assert writes >= periods * (1 + len(bins.extras))  # every period is written


def test_write_every_s_bounds_the_writes_of_an_open_period() -> None:
    bins = CameraBins(
        site_id=1, camera_id=1, timezone="Europe/Paris", bin_minutes=60, keys=KEYS, model_name="m",
        model_version="1", write_every_s=120,
    )  # fmt: skip
    writes = [len(bins.observe(T0 + timedelta(seconds=i / 10))) for i in range(36_000)]  # one open hour
    assert sum(writes) == 1 + 29  # opened, then at 120, 240, …, 3480 s of frame time
    with pytest.raises(InvalidInputError, match="write_every_s"):
        CameraBins(
            site_id=1, camera_id=1, timezone="UTC", bin_minutes=15, keys=KEYS, model_name="m",
            model_version="1", write_every_s=0,
        )  # fmt: skip


def test_closed_bins_are_complete_without_close_even_after_a_late_zone_sample(engine) -> None:
    """Frames every second, zone samples (processed frames) every 7 s, so the sample after a bin's end
    still adds to it once the bin was written closed: that change is written too. No `close()`: as if the
    worker crashed in the third bin."""
    site_id, camera_id = _camera(engine)
    zones = ZoneBins(zones=["parvis"], classes=["car"])
    bins = _bins(site_id, camera_id, extras=[zones])
    writes = []
    for i in range(2 * 900 + 100):
        t = T0 + timedelta(seconds=i)
        writes += bins.observe(t)
        if i % 7 == 0:
            zones.observe(bins, t, {("parvis", "car"): 1})
        if i in (10, 899, 905, 1799):
            writes += bins.add(t, "quai", "out", "car")
    _apply(engine, writes)
    stored = _stored(engine, camera_id)
    second = T0 + timedelta(minutes=15)
    assert stored[(T0, "out", "car")] == (2, False) and stored[(second, "out", "car")] == (2, False)
    with session_scope(engine) as s:
        rows = {
            r.period_start: (r.observed_s, r.mean_occupancy, r.partial) for r in s.scalars(select(ZoneBin))
        }
    # One track inside all along: 900 s watched, occupancy 1, for both closed bins.
    assert rows[T0] == (900.0, 1.0, False) and rows[second] == (900.0, 1.0, False)
    third = rows[T0 + timedelta(minutes=30)]
    assert third[2] and third[0] < 100  # still open: partial, written up to its last due write
