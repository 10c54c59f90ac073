"""ByteTrack stage on synthetic moving boxes."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from vigie.errors import InvalidInputError
from vigie.vision.detections import Detections
from vigie.vision.tracker import ByteTrackConfig, Tracker


def boxes(*centres: tuple[float, float], size: float = 40.0, score: float = 0.6, cls: int = 2) -> Detections:
    xyxy = [[x - size / 2, y - size / 2, x + size / 2, y + size / 2] for x, y in centres]
    n = len(xyxy)
    return Detections(
        xyxy=np.array(xyxy, np.float32).reshape(-1, 4),
        confidence=np.full(n, score),
        class_id=np.full(n, cls),
        data={"label": np.array([f"det{i}" for i in range(n)], dtype=object)},
    )


def test_ids_are_stable_for_moving_objects() -> None:
    tracker = Tracker()
    seen = []
    for t in range(15):
        out = tracker.update(boxes((100 + 5 * t, 100), (400, 300 - 4 * t)))
        if t >= 1:
            assert len(out) == 2
            seen.append(tuple(out.tracker_id[np.argsort(out.xyxy[:, 0])]))
    assert len(set(seen)) == 1 and len(set(seen[0])) == 2


def test_rows_keep_their_own_data_and_class() -> None:
    tracker = Tracker()
    for t in range(3):
        det = boxes((100 + 5 * t, 100), (400, 300), cls=7)
        det.class_id[1] = 3
        det.confidence[1] = 0.9
        out = tracker.update(det)
    order = np.argsort(out.xyxy[:, 0])
    np.testing.assert_array_equal(out.class_id[order], [7, 3])
    np.testing.assert_array_equal(out.data["label"][order], ["det0", "det1"])
    np.testing.assert_allclose(out.confidence[order], [0.6, 0.9])
    np.testing.assert_allclose(out.xyxy[order][0], [90, 80, 130, 120])  # the detector's box, not the filter's


def test_crossing_objects_keep_distinct_ids() -> None:
    tracker = Tracker()
    first_ids: dict[str, int] = {}
    for t in range(21):
        a, b = (100 + 10 * t, 200), (300 - 10 * t, 200 + 0.1)  # cross at t = 10
        out = tracker.update(boxes(a, b))
        if t == 2:
            left = int(np.argmin(out.xyxy[:, 0]))
            first_ids = {"a": int(out.tracker_id[left]), "b": int(out.tracker_id[1 - left])}
    # after crossing, a is on the right and b on the left
    right = int(np.argmax(out.xyxy[:, 0]))
    assert int(out.tracker_id[right]) == first_ids["a"]
    assert int(out.tracker_id[1 - right]) == first_ids["b"]


def test_track_survives_a_two_frame_gap() -> None:
    tracker = Tracker()
    ids = []
    for t in range(12):
        det = boxes((100 + 6 * t, 150)) if t not in (5, 6) else boxes()
        out = tracker.update(det)
        if len(out):
            ids.append(int(out.tracker_id[0]))
    assert len(ids) == 10  # every frame with a detection, including the first ones after the gap
    assert len(set(ids)) == 1


def test_low_score_detections_still_make_tracks() -> None:
    tracker = Tracker()
    for t in range(4):
        out = tracker.update(boxes((100 + 5 * t, 100), score=0.3))
    assert len(out) == 1


def test_frame_skipping_scales_the_buffer() -> None:
    tracker = Tracker(ByteTrackConfig(track_buffer=30, frame_rate=30))
    assert tracker.max_updates_lost == 30
    tracker.update(boxes((100, 100)), dt_s=3 / 30)  # every 3rd frame processed
    assert tracker.max_updates_lost == 10
    with pytest.raises(InvalidInputError):
        tracker.update(boxes((100, 100)), dt_s=0)


def test_lost_track_expires_after_its_buffer_duration() -> None:
    tracker = Tracker(ByteTrackConfig(track_buffer=3, frame_rate=10))  # 0.3 s
    for t in range(3):
        first = tracker.update(boxes((100 + 5 * t, 100)), dt_s=0.1)
    for _ in range(5):
        tracker.update(boxes(), dt_s=0.1)  # 0.5 s without it: gone
    again = tracker.update(boxes((130, 100)), dt_s=0.1)
    again = tracker.update(boxes((135, 100)), dt_s=0.1)
    assert int(again.tracker_id[0]) != int(first.tracker_id[0])


def test_state_is_bounded_on_a_long_stream() -> None:
    tracker = Tracker(ByteTrackConfig(track_buffer=5, frame_rate=30))
    ids: set[int] = set()
    sizes = []
    for t in range(600):
        # object k appears at frame 3k and is seen for 6 frames, then never again
        alive = [k for k in range(max(0, (t - 5 + 2) // 3), t // 3 + 1) if 3 * k <= t < 3 * k + 6]
        centres = [(50 + 100 * (k % 8), 50 + 3 * (t - 3 * k) + 60 * ((k // 8) % 5)) for k in alive]
        out = tracker.update(boxes(*centres))
        ids.update(out.tracker_id.tolist())
        sizes.append(tracker.state_size)
    assert len(ids) > 150  # many tracks came and went
    assert max(sizes[100:]) <= 10


def test_empty_input_and_config_validation() -> None:
    out = Tracker().update(boxes())
    assert len(out) == 0 and out.tracker_id is not None
    with pytest.raises(ValidationError):
        ByteTrackConfig(track_low_thresh=0.5, track_high_thresh=0.3)
    with pytest.raises(ValidationError):
        ByteTrackConfig(unknown=1)
