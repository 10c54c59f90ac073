"""The lapi pipeline: plate reads per camera → one read per vehicle passage → parking sessions.

Per camera, plate boxes are tracked (`vision.tracker.Tracker`) and each track's reads are voted
(`voting.PassageVoter`) into one `PlatePassage`; each passage becomes one `plate_reads` row (keyed hash,
clear text only where configured) and, at entry and exit cameras, opens or closes a parking session. In
`frame` mode (photo folders, snapshot cameras) each image is one passage: its most confident plate.
No image is ever stored. State is bounded: the voter caps open tracks, frames far apart reset the tracker.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata

import numpy as np
from sqlalchemy import event
from sqlalchemy.orm import Session

from vigie.errors import ConfigError
from vigie.pipelines.base import CameraContext, Write
from vigie.pipelines.lapi.config import LapiPipelineConfig
from vigie.pipelines.lapi.reading import PlateObservation, PlateReader
from vigie.pipelines.lapi.voting import PassageVoter, PlatePassage
from vigie.services.lapi_parking import PassageRead, ensure_car_park, flag_overstays, record_passage
from vigie.settings import Settings
from vigie.store.models import CameraRole, PlateFormat
from vigie.vision.detections import Detections
from vigie.vision.frame import Frame
from vigie.vision.tracker import Tracker

log = logging.getLogger("vigie.lapi")

OCR_MODEL_NAME = "rapidocr-pp-ocr"
_PENDING_CAR_PARKS = "lapi_pending_car_parks"  # session.info key: car-park ids not yet committed


def _ocr_version() -> str:
    try:
        return metadata.version("rapidocr")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class _CameraState:
    tracker: Tracker
    voter: PassageVoter
    last_at: datetime | None = None
    next_overstay_check: datetime | None = None
    pending: list[PlatePassage] = field(default_factory=list)


class LapiPipeline:
    name = "lapi"

    def __init__(
        self,
        config: LapiPipelineConfig,
        reader: PlateReader,
        *,
        secret: str,
        camera_slugs: Sequence[str] | None = None,
    ) -> None:
        self.config = config
        self.reader = reader
        self._secret = secret
        self._assignments = config.camera_assignments()
        if camera_slugs is not None:
            unknown = sorted(set(self._assignments) - set(camera_slugs))
            if unknown:
                raise ConfigError(f"lapi.car_parks: cameras {unknown} are not in the cameras of the file")
        self._states: dict[int, _CameraState] = {}
        self._car_park_ids: dict[tuple[int, str], int] = {}  # (site id, slug) → id, filled by the writer
        self._contexts: dict[int, CameraContext] = {}
        self._ocr_version = _ocr_version()
        self.passages = 0
        self.unreadable = 0

    # --- per frame --------------------------------------------------------------------------------

    def _state(self, camera: CameraContext) -> _CameraState:
        state = self._states.get(camera.camera_id)
        if state is None:
            state = _CameraState(Tracker(self.config.tracker), PassageVoter(self.config.voting))
            self._states[camera.camera_id] = state
        return state

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        state = self._state(camera)
        at = frame.captured_at
        writes: list[Write] = []
        if state.next_overstay_check is None or at >= state.next_overstay_check:
            state.next_overstay_check = at + timedelta(seconds=self.config.overstay_check_s)
            writes.append(self._sync_and_flag(camera, at))
        observations = self.reader.read(frame)
        if self.config.passage_mode == "frame":
            passages = self._frame_passage(observations, frame)
        else:
            passages = self._track(state, observations, at)
        writes.extend(self._passage_writes(camera, passages, at))
        state.last_at = at
        return writes

    def _frame_passage(self, observations: list[PlateObservation], frame: Frame) -> list[PlatePassage]:
        """Photo mode: the most confident readable plate of the image is the vehicle (not background ones)."""
        readable = [o for o in observations if o.format != "unknown"]
        candidates = readable or observations
        if not candidates:
            return []
        best = max(candidates, key=lambda o: (o.confidence, o.detection_confidence * o.box_area))
        voter = PassageVoter(self.config.voting)
        voter.observe(frame.sequence, best, at=frame.captured_at)
        return voter.flush()

    def _track(
        self, state: _CameraState, observations: list[PlateObservation], at: datetime
    ) -> list[PlatePassage]:
        passages: list[PlatePassage] = []
        dt_s: float | None = None
        if state.last_at is not None:
            dt_s = (at - state.last_at).total_seconds()
            if dt_s <= 0 or dt_s > self.config.track_gap_s:
                # A stall, a replay or a new photo: nothing seen before can continue into this frame.
                passages.extend(state.voter.flush())
                state.tracker.reset()
                dt_s = None
        detections = Detections(
            xyxy=np.array([o.box for o in observations], dtype=np.float32).reshape(-1, 4),
            confidence=np.array([o.detection_confidence for o in observations], dtype=np.float32),
            data={"observation": np.arange(len(observations))},
        )
        tracked = state.tracker.update(detections, dt_s=dt_s)
        assert tracked.tracker_id is not None
        for track_id, index in zip(tracked.tracker_id, tracked.data["observation"], strict=True):
            passages.extend(state.voter.observe(int(track_id), observations[int(index)], at=at))
        passages.extend(state.voter.expire(at))
        return passages

    def close(self) -> Sequence[Write]:
        writes: list[Write] = []
        for camera_id, state in self._states.items():
            passages = state.voter.flush()
            if passages and state.last_at is not None:
                context = self._contexts.get(camera_id)
                if context is not None:
                    writes.extend(self._passage_writes(context, passages, state.last_at))
        return writes

    # --- writes -----------------------------------------------------------------------------------

    def _car_park_id(self, session: Session, camera: CameraContext, slug: str) -> int:
        """The car park's id, created or synced from the site file on first use.

        An id is cached only once the transaction that created or found it commits: the writer may roll a
        batch back, and a cached id of a car park that was never stored would break every later write.
        Until then it is kept in the session (`session.info`), so that writes of the same batch reuse it.
        """
        key = (camera.site_id, slug)
        cached = self._car_park_ids.get(key)
        if cached is not None:
            return cached
        pending: dict[tuple[int, str], int] | None = session.info.get(_PENDING_CAR_PARKS)
        if pending is None:
            pending = session.info[_PENDING_CAR_PARKS] = {}
            if not event.contains(session, "after_commit", self._keep_committed_car_parks):
                event.listen(session, "after_commit", self._keep_committed_car_parks)
                event.listen(session, "after_rollback", self._forget_rolled_back_car_parks)
        if key not in pending:
            park = next(p for p in self.config.car_parks if p.slug == slug)
            row = ensure_car_park(session, site_id=camera.site_id, data=self.config.car_park_in(park))
            pending[key] = row.id
        return pending[key]

    def _keep_committed_car_parks(self, session: Session) -> None:
        self._car_park_ids.update(session.info.pop(_PENDING_CAR_PARKS, {}))

    def _forget_rolled_back_car_parks(self, session: Session) -> None:
        session.info.pop(_PENDING_CAR_PARKS, None)

    def _sync_and_flag(self, camera: CameraContext, at: datetime) -> Write:
        assignment = self._assignments.get(camera.slug)

        def write(session: Session) -> None:
            if assignment is None:
                return
            car_park_id = self._car_park_id(session, camera, assignment[0])
            flagged = flag_overstays(session, now=at, car_park_id=car_park_id)
            if flagged:
                log.info("car park %s: %d session(s) flagged without exit", assignment[0], flagged)

        return write

    def _passage_writes(
        self, camera: CameraContext, passages: Sequence[PlatePassage], at: datetime
    ) -> list[Write]:
        self._contexts[camera.camera_id] = camera
        writes: list[Write] = []
        slug, role = self._assignments.get(camera.slug, (None, CameraRole.PATROL))
        for passage in passages:
            if not passage.text:
                self.unreadable += 1  # a vehicle whose plate was never read: nothing to hash or match
                log.debug("camera %s: unreadable passage (track %s)", camera.slug, passage.track_id)
                continue
            self.passages += 1
            writes.append(self._passage_write(camera, slug, role, passage, at))
        return writes

    def _passage_write(
        self, camera: CameraContext, slug: str | None, role: CameraRole, passage: PlatePassage, at: datetime
    ) -> Write:
        read_at = passage.best_frame_time if isinstance(passage.best_frame_time, datetime) else at
        read = PassageRead(
            text=passage.text,
            format=PlateFormat(passage.format),
            confidence=min(max(float(passage.confidence), 0.0), 1.0),
            read_at=read_at,
            box=passage.box or (0.0, 0.0, 0.0, 0.0),
            model_name=self.reader.detector.name,
            model_version=self.reader.detector.version,
            ocr_model_name=OCR_MODEL_NAME,
            ocr_model_version=self._ocr_version,
            track_id=passage.track_id,
            raw_texts=passage.raw_texts,
        )
        # A weak or non-French read is kept for review but never opens or closes a session on its own.
        matchable = (
            read.confidence >= self.config.min_match_confidence and read.format is not PlateFormat.UNKNOWN
        )

        def write(session: Session) -> None:
            car_park_id = None if slug is None else self._car_park_id(session, camera, slug)
            result = record_passage(
                session,
                camera_id=camera.camera_id,
                car_park_id=car_park_id,
                role=role,
                passage=read,
                secret=self._secret,
                duplicate_window_s=self.config.duplicate_window_s,
                apply_parking=matchable,
            )
            log.debug("camera %s: %s", camera.slug, result.outcome.value)

        return write


def build_pipeline(*, config: object, settings: Settings) -> LapiPipeline:
    """`vigie run lapi --config FILE`: the `lapi:` section of the site file (defaults when absent)."""
    section: LapiPipelineConfig = getattr(config, "lapi", None) or LapiPipelineConfig()
    cameras = getattr(config, "cameras", None)
    slugs = None if cameras is None else [c.slug for c in cameras]
    reader = PlateReader(section.reader, weights_dir=settings.weights_dir)
    return LapiPipeline(section, reader, secret=settings.secret_key.get_secret_value(), camera_slugs=slugs)
