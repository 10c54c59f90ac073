"""Character-level voting per track: one passage per vehicle, honest confidence, bounded state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from vigie.pipelines.lapi.reading import PlateObservation
from vigie.pipelines.lapi.voting import PassageVoter, VotingConfig, vote

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def obs(
    text: str,
    conf: float,
    fmt: str = "siv",
    *,
    t: float = 0.0,
    box: tuple[float, float, float, float] = (0, 0, 100, 25),
    raw: str | None = None,
    chars: tuple[float, ...] | None = None,
) -> PlateObservation:
    return PlateObservation(
        box=box,
        detection_confidence=0.8,
        raw_text=raw if raw is not None else text,
        text=text,
        format=fmt,  # type: ignore[arg-type]
        confidence=conf,
        char_confidences=chars if chars is not None else (conf,) * len(text),
        captured_at=T0 + timedelta(seconds=t),
    )


def test_character_vote_fixes_single_frame_errors() -> None:
    reads = [
        obs("AB123CD", 0.9, t=0),
        obs("AB128CD", 0.6, t=0.1),  # one wrong digit
        obs("AB123CD", 0.8, t=0.2),
        obs("A8123CD", 0.3, t=0.3),
    ]
    # the last one is not even SIV: it cannot outvote, it is in the same (format, length) group here
    reads[3] = obs("AB723CD", 0.5, t=0.3)
    passage = vote(reads, track_id=7)
    assert passage.text == "AB123CD" and passage.format == "siv" and passage.track_id == 7
    assert passage.display == "AB-123-CD"
    assert passage.n_observations == 4 and passage.n_votes == 4
    assert passage.best_frame_time == T0  # the most confident read of the voted text
    assert 0 < passage.confidence < 0.9  # disagreement lowers it below the best single read


def test_vote_builds_a_plate_no_single_frame_read() -> None:
    # each frame has one different error; the per-position vote recovers the plate
    reads = [obs("XB123CD", 0.7), obs("AB153CD", 0.7), obs("AB123CZ", 0.7), obs("AB123CD", 0.5)]
    reads += [obs("AB123CD", 0.5)]
    assert vote(reads).text == "AB123CD"


def test_unanimous_reads_give_high_confidence_and_one_read_is_capped() -> None:
    many = vote([obs("AB123CD", 0.9, t=i) for i in range(5)])
    one = vote([obs("AB123CD", 0.9)])
    assert many.text == one.text == "AB123CD"
    assert one.confidence <= 0.9
    assert many.confidence >= one.confidence


def test_majority_format_wins_and_minority_lowers_confidence() -> None:
    reads = [obs("AB123CD", 0.9), obs("AB123CD", 0.8), obs("123ABC45", 0.9, "fni")]
    passage = vote(reads)
    assert passage.format == "siv" and passage.text == "AB123CD"
    assert passage.confidence == pytest.approx(0.9 * 1.7 / 2.6, abs=1e-3)  # best char × group share


def test_unreadable_track_gives_unknown_passage() -> None:
    reads = [obs("", 0.0, "unknown", raw="?#"), obs("", 0.0, "unknown", raw="")]
    passage = vote(reads)
    assert passage.format == "unknown" and passage.text == "" and passage.confidence == 0
    assert passage.raw_texts == ("?#",)


def test_voter_emits_once_when_the_track_ends() -> None:
    voter = PassageVoter(VotingConfig(max_observations=10))
    for i in range(3):
        assert voter.observe(1, obs("AB123CD", 0.9, t=i * 0.1)) == []
    out = voter.end_track(1)
    assert [p.text for p in out] == ["AB123CD"]
    assert voter.end_track(1) == [] and voter.open_tracks == 0


def test_voter_emits_after_n_reads_then_ignores_the_rest_of_the_passage() -> None:
    voter = PassageVoter(VotingConfig(max_observations=3))
    emitted = [p for i in range(8) for p in voter.observe(4, obs("AB123CD", 0.9, t=i * 0.1))]
    assert len(emitted) == 1 and emitted[0].n_observations == 3
    assert voter.end_track(4) == []  # already emitted: one event per passage


def test_expire_closes_stale_tracks_only() -> None:
    voter = PassageVoter(VotingConfig(track_timeout_s=2.0))
    voter.observe(1, obs("AB123CD", 0.9), at=0.0)
    voter.observe(2, obs("EF456GH", 0.9), at=1.5)
    closed = voter.expire(2.5)
    assert [p.track_id for p in closed] == [1]
    assert [p.track_id for p in voter.flush()] == [2]


def test_state_is_bounded() -> None:
    voter = PassageVoter(VotingConfig(max_tracks=2, max_observations=5))
    voter.observe(1, obs("AB123CD", 0.9), at=0.0)
    voter.observe(2, obs("EF456GH", 0.9), at=0.1)
    evicted = voter.observe(3, obs("JK789LM", 0.9), at=0.2)
    assert [p.track_id for p in evicted] == [1]
    assert voter.open_tracks == 2


def test_unknown_passages_can_be_suppressed() -> None:
    voter = PassageVoter(VotingConfig(emit_unknown=False))
    voter.observe(1, obs("", 0.0, "unknown"), at=0.0)
    assert voter.flush() == []


def test_naive_datetime_is_rejected() -> None:
    voter = PassageVoter()
    with pytest.raises(Exception, match="timezone-aware"):
        voter.observe(1, obs("AB123CD", 0.9), at=datetime(2026, 1, 1))
