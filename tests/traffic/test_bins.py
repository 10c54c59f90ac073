"""Bins: local-time alignment across DST, idempotent absolute upserts, restart, dropped stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from vigie.errors import InvalidInputError
from vigie.pipelines.traffic.bins import CameraBins, parse_bin, period_of
from vigie.store.db import session_scope
from vigie.store.models import Camera, CountBin, Site

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


def _bins(site_id: int, camera_id: int) -> CameraBins:
    return CameraBins(
        site_id=site_id, camera_id=camera_id, timezone="Europe/Paris", bin_minutes=15, keys=KEYS,
        model_name="coco-yolov4-tiny", model_version="0.1.2", max_gap_s=10,
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
