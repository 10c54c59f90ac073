"""One read event per vehicle passage: character-level voting over the plate reads of one track.

A vehicle crossing the camera is read in many frames; single reads disagree on a character or two
(blur, glare, angle). `PassageVoter` collects the `PlateObservation`s of each track id and, when the track
ends, times out or reaches `max_observations`, emits one `PlatePassage`:
1. reads are grouped by (format, length); the group with the most confidence wins;
2. within it, each position takes the character with the largest summed character confidence;
3. the voted text must still be a valid plate of its format, else the group's best single read is kept;
4. confidence = (weakest position's agreement × best supporting character confidence) × the winning
   group's share of all readable confidence — disagreeing frames lower it, a single read cannot exceed
   its own confidence;
5. the best frame is the most confident read of the voted text (its time and box are reported).
State is bounded: at most `max_observations` reads per track and `max_tracks` open tracks; tracks not seen
for `track_timeout_s` are closed by `expire`.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from vigie.errors import InvalidInputError
from vigie.pipelines.lapi.reading import PlateObservation
from vigie.pipelines.lapi.syntax import PlateFormat, format_plate, plate_format

Timestamp = datetime | float


class VotingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_observations: int = Field(
        15,
        ge=1,
        le=1000,
        title="Reads per passage",
        description="A passage is emitted after this many reads.",
    )
    min_observations: int = Field(
        1, ge=1, title="Minimum reads", description="Tracks with fewer plate reads emit nothing."
    )
    track_timeout_s: float = Field(
        3.0, gt=0, title="Track timeout (s)", description="A track unseen this long is closed by expire()."
    )
    max_tracks: int = Field(
        256, ge=1, title="Open tracks", description="Beyond this, the oldest open track is closed."
    )
    emit_unknown: bool = Field(
        True,
        title="Emit unreadable passages",
        description="Emit a passage with format `unknown` when a track's plate was never read.",
    )
    max_raw_texts: int = Field(8, ge=1, title="Raw texts kept", description="Distinct raw OCR texts kept.")


@dataclass(frozen=True, slots=True)
class PlatePassage:
    """One vehicle passage with its voted plate."""

    track_id: int
    text: str  # normalised (no separators); "" when unknown
    format: PlateFormat
    confidence: float
    raw_texts: tuple[str, ...]
    best_frame_time: Timestamp | None
    box: tuple[float, float, float, float] | None
    char_confidences: tuple[float, ...] = ()
    n_observations: int = 0
    n_votes: int = 0  # reads that agreed on format and length with the voted text
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None
    best_sequence: int | None = None
    cut_by_edge: bool = False

    @property
    def display(self) -> str:
        return format_plate(self.text, self.format)


@dataclass(slots=True)
class _Track:
    observations: list[PlateObservation] = field(default_factory=list)
    times: list[Timestamp | None] = field(default_factory=list)
    first_seen: Timestamp | None = None
    last_seen: Timestamp | None = None
    last_seen_s: float | None = None
    emitted: bool = False


def _seconds(at: Timestamp | None) -> float | None:
    if at is None:
        return None
    if isinstance(at, datetime):
        if at.tzinfo is None:
            raise InvalidInputError(f"passage time {at.isoformat()} must be timezone-aware")
        return at.timestamp()
    return float(at)


def vote(
    observations: Sequence[PlateObservation],
    *,
    track_id: int = 0,
    times: Sequence[Timestamp | None] | None = None,
    max_raw_texts: int = 8,
) -> PlatePassage:
    """The passage that a set of reads of one vehicle amounts to (pure function)."""
    if times is None:
        times = [o.captured_at for o in observations]
    if len(times) != len(observations):
        raise InvalidInputError(f"vote: {len(observations)} observations but {len(times)} times")
    raw: list[str] = []
    for o in observations:
        if o.raw_text and o.raw_text not in raw and len(raw) < max_raw_texts:
            raw.append(o.raw_text)
    seen = [t for t in times if t is not None]
    common = {
        "track_id": track_id,
        "raw_texts": tuple(raw),
        "n_observations": len(observations),
        "first_seen": seen[0] if seen else None,
        "last_seen": seen[-1] if seen else None,
    }
    readable = [(o, t) for o, t in zip(observations, times, strict=True) if o.text and o.format != "unknown"]
    if not readable:
        best_i = max(
            range(len(observations)), key=lambda i: observations[i].detection_confidence, default=None
        )
        best = observations[best_i] if best_i is not None else None
        return PlatePassage(
            text="",
            format="unknown",
            confidence=0.0,
            best_frame_time=times[best_i] if best_i is not None else None,
            box=best.box if best else None,
            best_sequence=best.sequence if best else None,
            cut_by_edge=best.cut_by_edge if best else False,
            **common,
        )
    groups: dict[tuple[str, int], list[tuple[PlateObservation, Timestamp | None]]] = {}
    for o, t in readable:
        groups.setdefault((o.format, len(o.text)), []).append((o, t))
    weight = {key: sum(max(o.confidence, 1e-6) for o, _ in members) for key, members in groups.items()}
    key = max(sorted(weight), key=weight.__getitem__)
    members = groups[key]
    fmt, length = key
    share = weight[key] / sum(weight.values())

    letters: list[str] = []
    position_conf: list[float] = []
    for k in range(length):
        votes: dict[str, float] = {}
        best_char_conf: dict[str, float] = {}
        for o, _ in members:
            c = o.text[k]
            cc = o.char_confidences[k] if len(o.char_confidences) == length else o.confidence
            votes[c] = votes.get(c, 0.0) + max(cc, 1e-6)
            best_char_conf[c] = max(best_char_conf.get(c, 0.0), cc)
        winner = max(sorted(votes), key=votes.__getitem__)
        letters.append(winner)
        position_conf.append(votes[winner] / sum(votes.values()) * best_char_conf[winner])
    text = "".join(letters)
    if fmt in ("siv", "fni") and plate_format(text) != fmt:
        # the vote mixed reads into an impossible plate: keep the best single read of the group
        o_best = max(members, key=lambda m: m[0].confidence)[0]
        text = o_best.text
        position_conf = [
            sum(max(o.char_confidences[k] if len(o.char_confidences) == length else o.confidence, 1e-6)
                for o, _ in members if o.text[k] == text[k])
            / sum(max(o.char_confidences[k] if len(o.char_confidences) == length else o.confidence, 1e-6)
                  for o, _ in members)
            * o_best.confidence
            for k in range(length)
        ]  # fmt: skip
    agreeing = [(o, t) for o, t in members if o.text == text] or members
    best, best_time = max(agreeing, key=lambda m: (m[0].confidence, m[0].box_area))
    confidence = min(position_conf) * share if position_conf else 0.0
    return PlatePassage(
        text=text,
        format=fmt,  # type: ignore[arg-type]
        confidence=round(min(1.0, confidence), 4),
        best_frame_time=best_time,
        box=best.box,
        char_confidences=tuple(round(c, 4) for c in position_conf),
        n_votes=len(members),
        best_sequence=best.sequence,
        cut_by_edge=best.cut_by_edge,
        **common,
    )


class PassageVoter:
    """Collects reads per track id and emits one `PlatePassage` per track (see the module docstring)."""

    def __init__(self, config: VotingConfig | None = None) -> None:
        self.config = config or VotingConfig()
        self._tracks: OrderedDict[int, _Track] = OrderedDict()

    @property
    def open_tracks(self) -> int:
        return len(self._tracks)

    def observe(
        self, track_id: int, observation: PlateObservation, at: Timestamp | None = None
    ) -> list[PlatePassage]:
        """Add one read; returns the passages this closes (its own at `max_observations`, evicted ones)."""
        at = observation.captured_at if at is None else at
        out: list[PlatePassage] = []
        track = self._tracks.get(track_id)
        if track is None:
            if len(self._tracks) >= self.config.max_tracks:
                oldest = next(iter(self._tracks))
                out.extend(self._close(oldest))
            track = self._tracks[track_id] = _Track(first_seen=at)
        self._tracks.move_to_end(track_id)
        track.last_seen, track.last_seen_s = at, _seconds(at)
        if track.emitted:
            return out  # the passage is already out: only keep the track alive until it ends
        track.observations.append(observation)
        track.times.append(at)
        if len(track.observations) >= self.config.max_observations:
            passage = self._passage(track_id, track)
            track.emitted = True
            track.observations.clear()
            track.times.clear()
            if passage is not None:
                out.append(passage)
        return out

    def end_track(self, track_id: int) -> list[PlatePassage]:
        """The track is gone (the tracker lost it): emit its passage unless already emitted."""
        return self._close(track_id)

    def expire(self, now: Timestamp) -> list[PlatePassage]:
        """Close tracks not seen for `track_timeout_s` before `now`."""
        now_s = _seconds(now)
        assert now_s is not None
        stale = [
            tid
            for tid, tr in self._tracks.items()
            if tr.last_seen_s is not None and now_s - tr.last_seen_s >= self.config.track_timeout_s
        ]
        return [p for tid in stale for p in self._close(tid)]

    def flush(self) -> list[PlatePassage]:
        """Close every open track (end of a video, worker stop)."""
        return [p for tid in list(self._tracks) for p in self._close(tid)]

    def _close(self, track_id: int) -> list[PlatePassage]:
        track = self._tracks.pop(track_id, None)
        if track is None or track.emitted:
            return []
        passage = self._passage(track_id, track)
        return [passage] if passage is not None else []

    def _passage(self, track_id: int, track: _Track) -> PlatePassage | None:
        if len(track.observations) < self.config.min_observations:
            return None
        passage = vote(
            track.observations, track_id=track_id, times=track.times, max_raw_texts=self.config.max_raw_texts
        )
        if passage.format == "unknown" and not self.config.emit_unknown:
            return None
        return passage
