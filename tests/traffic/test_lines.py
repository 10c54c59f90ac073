"""Counting-line logic on synthetic tracks: flicker, reversal, simultaneous crossings, gaps, memory."""

from __future__ import annotations

import numpy as np
import pytest

from vigie.errors import InvalidInputError
from vigie.pipelines.traffic.lines import LineCounter, LineGeometry

# Horizontal line y = 100 from x = 0 to x = 200: moving up (y decreasing) is `out` (s > 0 → s < 0).
LINE = LineGeometry(0, 100, 200, 100)


def run(counter: LineCounter, tracks: dict[int, list[tuple[float, float] | None]], dt: float = 0.1) -> list:
    """Feed per-frame points of several tracks (None = not detected that frame)."""
    n = max(len(v) for v in tracks.values())
    out = []
    for i in range(n):
        ids, pts = [], []
        for tid, path in tracks.items():
            if i < len(path) and path[i] is not None:
                ids.append(tid)
                pts.append(path[i])
        out += counter.update(np.array(ids), np.array(pts).reshape(-1, 2), i * dt)
    return out


def straight(x: float, y0: float, y1: float, n: int) -> list[tuple[float, float]]:
    return [(x, y) for y in np.linspace(y0, y1, n)]


def test_one_crossing_counted_once_with_direction() -> None:
    crossings = run(LineCounter("l", LINE), {1: straight(50, 150, 50, 20)})
    assert [(c.direction, c.tracker_id) for c in crossings] == [("out", 1)]
    crossings = run(LineCounter("l", LINE), {2: straight(50, 50, 150, 20)})
    assert [c.direction for c in crossings] == ["in"]


def test_flicker_at_the_line_counts_nothing_and_then_once() -> None:
    # The reference point wobbles ±5 px around the line for 40 frames (box jitter while queueing).
    rng = np.random.default_rng(0)
    wobble = [(50.0, 100 + float(rng.uniform(-5, 5))) for _ in range(40)]
    counter = LineCounter("l", LINE, band_px=6, min_frames=2)
    assert run(counter, {1: straight(50, 140, 110, 5) + wobble}) == []
    # A naive sign-change counter would count many times on the same path.
    signs = np.sign([p[1] - 100 for p in wobble])
    assert (np.diff(signs) != 0).sum() > 5
    counter = LineCounter("l", LINE, band_px=6, min_frames=2)
    crossings = run(counter, {1: straight(50, 140, 110, 5) + wobble + straight(50, 90, 40, 6)})
    assert [c.direction for c in crossings] == ["out"]


def test_single_frame_excursion_is_not_a_crossing() -> None:
    path = [*straight(50, 150, 110, 5), (50, 90), *straight(50, 110, 150, 5)]
    assert run(LineCounter("l", LINE, band_px=3, min_frames=2), {1: path}) == []


def test_reversal_counts_each_direction_once() -> None:
    path = straight(50, 150, 50, 10) + straight(50, 50, 150, 10) + straight(50, 150, 50, 10)
    crossings = run(LineCounter("l", LINE), {1: path})
    assert sorted(c.direction for c in crossings) == ["in", "out"]


def test_simultaneous_crossings_all_counted() -> None:
    tracks = {tid: straight(10 + 20 * tid, 150, 50, 12) for tid in range(8)}
    crossings = run(LineCounter("l", LINE), tracks)
    assert sorted(c.tracker_id for c in crossings) == list(range(8))
    assert len({c.time_s for c in crossings}) == 1  # all in the same frame


def test_gap_right_at_the_line_is_still_counted() -> None:
    # Seen at y 130..104, missed for 3 frames while crossing, seen again from y 90 on.
    path: list = [*straight(50, 130, 104, 5), None, None, None, *straight(50, 90, 60, 5)]
    crossings = run(LineCounter("l", LINE, ttl_s=2.0), {1: path})
    assert [c.direction for c in crossings] == ["out"]


def test_crossing_beyond_the_segment_end_is_ignored() -> None:
    assert run(LineCounter("l", LINE), {1: straight(260, 150, 50, 20)}) == []


def test_only_configured_directions_are_counted() -> None:
    counter = LineCounter("l", LINE, directions=("in",))
    assert run(counter, {1: straight(50, 150, 50, 20)}) == []


def test_state_is_bounded_over_100k_frames() -> None:
    counter = LineCounter("l", LINE, ttl_s=1.0)
    total = 0
    for frame in range(100_000):
        # A new vehicle every 10 frames, each visible for 30 frames while moving up across the line.
        ids = [tid for tid in range(frame // 10 - 2, frame // 10 + 1) if tid >= 0]
        pts = [(50.0, 150.0 - 100.0 * (frame - 10 * tid) / 30) for tid in ids]
        total += len(counter.update(np.array(ids), np.array(pts), frame / 30))
        assert counter.state_size <= 40
    # Beyond the band (y < 97) from its 16th frame, confirmed at its 17th: every vehicle that got there.
    expected = sum(1 for tid in range(10_000) if 10 * tid + 17 <= 99_999)
    assert total == expected


@pytest.mark.parametrize(
    ("points", "message"),
    [((10, 10, 10, 10), "zero length"), ((0, 0, float("nan"), 5), "finite")],
)
def test_bad_geometry(points: tuple, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        LineGeometry(*points)


def test_line_outside_frame_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="outside the 320×240 frame"):
        LineGeometry(20, 100, 400, 100).check_inside(320, 240, name="quai")
    LineGeometry(20, 100, 225, 100).check_inside(320, 240, name="quai")
