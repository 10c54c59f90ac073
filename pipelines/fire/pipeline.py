"""The fire pipeline: frame checks → tiled detection → masks → bearings → confirmation → fused alerts.

Every kept detection is stored (with its azimuth, model and calibration versions); only tracks confirmed
over several frames become alerts, written through `services.fire_alerts.upsert_alert` with the best
frame saved as `<data_dir>/alerts/<public_id>.jpg`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import update
from sqlalchemy.orm import Session

from vigie.calibration.bearing import Bearing
from vigie.pipelines.base import CameraContext, Write
from vigie.pipelines.fire.config import FirePipelineConfig
from vigie.pipelines.fire.confirmation import Confirmer, Hit, TrackUpdate
from vigie.pipelines.fire.fusion import Event, EventRegistry, Sighting
from vigie.pipelines.fire.geometry import CameraGeometry
from vigie.pipelines.fire.masks import CameraMasks
from vigie.pipelines.fire.quality import FrameQuality
from vigie.pipelines.fire.tiling import detect_tiled
from vigie.services.fire_alerts import NO_FIELD_OF_VIEW, NO_HEADING
from vigie.store.models import Detection
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector
from vigie.vision.frame import Frame

log = logging.getLogger("vigie.fire")

# (site id, capture instant) → that site's fire-danger level on its local calendar day.
DangerLevelProvider = Callable[[int, datetime], int]
JPEG_QUALITY = 90


@dataclass(slots=True)
class FrameResult:
    """What one frame produced (for the one-shot command and tests)."""

    camera: str
    captured_at: datetime
    skipped: str | None = None
    detections: list[dict[str, Any]] = field(default_factory=list)
    masked: int = 0
    alerts: list[str] = field(default_factory=list)  # public ids written for this frame


class FirePipeline:
    name = "fire"

    def __init__(
        self,
        config: FirePipelineConfig,
        detector: Detector,
        *,
        cameras: dict[str, CameraGeometry] | None = None,
        data_dir: Path | None = None,
        danger_level: DangerLevelProvider | None = None,
    ) -> None:
        self.config = config
        self.detector = detector
        self.cameras = dict(cameras or {})
        self.data_dir = data_dir
        self.danger_level_provider = danger_level
        self.quality = FrameQuality(config.quality)
        self.confirmer = Confirmer(config.confirmation)
        self.registry = EventRegistry(config.localisation)
        self.masks = {
            slug: CameraMasks(slug, polygons, config.mask_min_fraction)
            for slug, polygons in config.masks.items()
        }
        self.notifier = None
        if config.webhooks:
            from vigie.services.fire_notify import WebhookNotifier

            self.notifier = WebhookNotifier(config.webhooks)
        self.masked: Counter[str] = Counter()
        self.last_result: FrameResult | None = None
        self._warned: set[tuple[str, str]] = set()
        self._class_ok = {i: n in config.kinds for i, n in detector.names.items()}

    # --- helpers ----------------------------------------------------------------------------------

    def geometry(self, camera: CameraContext) -> CameraGeometry:
        geo = self.cameras.get(camera.slug)
        if geo is None:  # unknown camera: keep detecting, without bearings
            geo = CameraGeometry(
                camera_id=camera.camera_id,
                slug=camera.slug,
                site_id=camera.site_id,
                calibration_version=camera.calibration_version,
            )
            self.cameras[camera.slug] = geo
        elif (geo.camera_id, geo.site_id) != (camera.camera_id, camera.site_id):
            # Geometry read from the site file before the database gave the camera its id.
            geo = replace(geo, camera_id=camera.camera_id, site_id=camera.site_id)
            self.cameras[camera.slug] = geo
        return geo

    def danger_level(self, site_id: int, at: datetime) -> int:
        if self.config.danger_level is not None:
            return self.config.danger_level
        if self.danger_level_provider is None:
            return 3
        return int(self.danger_level_provider(site_id, at))

    def _warn_once(self, camera: str, reason: str) -> None:
        if (camera, reason) not in self._warned:
            self._warned.add((camera, reason))
            log.warning("camera %s: %s: detections kept without bearing", camera, reason)

    # --- the stage --------------------------------------------------------------------------------

    def detect(self, frame: Frame) -> Detections:
        """Smoke/fire boxes of a frame (tiled, only the classes mapped to an alert kind)."""
        dets = detect_tiled(self.detector, frame.image, self.config.tiling)
        keep = np.array([self._class_ok.get(int(c), False) for c in dets.class_id], dtype=bool)
        dets = dets[keep] if len(dets) else dets
        dets.metadata.update(
            camera_id=frame.camera_id,
            captured_at=frame.captured_at,
            sequence=frame.sequence,
            pose=frame.metadata.get("pose"),
        )
        return dets

    def process(self, camera: CameraContext, frame: Frame) -> Sequence[Write]:
        result = FrameResult(camera=camera.slug, captured_at=frame.captured_at)
        self.last_result = result
        reason = self.quality.check(camera.slug, frame.image)
        if reason is not None:
            result.skipped = reason
            return []
        dets = self.detect(frame)
        mask = self.masks.get(camera.slug)
        if mask is not None and len(dets):
            ignored = mask.masked(dets)
            if ignored.any():
                result.masked = int(ignored.sum())
                self.masked[camera.slug] += result.masked
                log.info(
                    "camera %s: %d detection(s) inside occlusion masks ignored",
                    camera.slug,
                    result.masked,
                    extra={"camera": camera.slug},
                )
                dets = dets[~ignored]
        level = self.danger_level(camera.site_id, frame.captured_at)
        pose = frame.metadata.get("pose")
        pose = str(pose) if pose is not None else None
        if not len(dets):
            # Tracks still age: an empty frame is an observation too.
            self.confirmer.update(
                camera.slug,
                frame.captured_at,
                np.zeros((0, 4)),
                np.zeros(0),
                [],
                image_width=frame.width,
                danger_level=level,
                pose=pose,
            )
            return []

        geo = self.geometry(camera)
        missing = geo.missing(pose)
        if missing is not None:
            self._warn_once(camera.slug, missing)
        bearings: list[Bearing | None] = [
            None if missing else geo.bearing(tuple(float(v) for v in box), frame.width, frame.height, pose)
            for box in dets.xyxy
        ]
        names = [str(n) for n in dets.class_name]
        updates = self.confirmer.update(
            camera.slug,
            frame.captured_at,
            dets.xyxy,
            dets.confidence,
            names,
            image_width=frame.width,
            danger_level=level,
            pose=pose,
        )

        hit_of_box: dict[tuple[float, ...], TrackUpdate] = {u.hit.xyxy: u for u in updates}
        rows: list[tuple[Detection, Hit | None]] = []
        for i, box in enumerate(dets.xyxy):
            key = tuple(float(v) for v in box)
            upd = hit_of_box.get(key)
            b = bearings[i]
            result.detections.append(
                {
                    "class_name": names[i],
                    "confidence": round(float(dets.confidence[i]), 4),
                    "box": [round(v, 1) for v in key],
                    "azimuth_deg": None if b is None else round(b.azimuth_deg, 3),
                    "left_deg": None if b is None else round(b.left_deg, 3),
                    "right_deg": None if b is None else round(b.right_deg, 3),
                    "bearing_missing": missing,
                    "track": None if upd is None else upd.track.track_id,
                }
            )
            rows.append((self._row(camera, geo, dets, i, b, upd, missing), None if upd is None else upd.hit))

        writes: list[Write] = [self._detections_write(rows)]
        for upd in updates:
            if not upd.track.confirmed:
                continue
            i = next(j for j, box in enumerate(dets.xyxy) if tuple(float(v) for v in box) == upd.hit.xyxy)
            sighting = Sighting(
                camera=geo,
                seen_at=frame.captured_at,
                xyxy=upd.hit.xyxy,
                confidence=upd.hit.confidence,
                bearing=bearings[i],
                reason=missing,
            )
            event = self.registry.observe(
                upd.track,
                upd.hit,
                sighting,
                kind=self.config.kinds[upd.track.class_name],
                danger_level=level,
                image_width=frame.width,
                encode_frame=(lambda: _jpeg(frame.image)) if self.config.save_frames else None,
            )
            if event is not None:
                result.alerts.append(event.public_id)
                writes.append(self._alert_write(event, dets.metadata))
        return writes

    def close(self) -> Sequence[Write]:
        return []

    def shutdown(self) -> None:
        """After the last write is committed: flush queued webhooks and release the danger-level reader."""
        if self.notifier is not None:
            self.notifier.close()
        closer = getattr(self.danger_level_provider, "close", None)
        if closer is not None:
            closer()

    # --- writes -----------------------------------------------------------------------------------

    def _row(
        self,
        camera: CameraContext,
        geo: CameraGeometry,
        dets: Detections,
        i: int,
        bearing: Bearing | None,
        upd: TrackUpdate | None,
        missing: str | None,
    ) -> Detection:
        meta = dets.metadata
        data: dict[str, Any] = {
            "sequence": meta.get("sequence"),
            "image_size": list(meta.get("image_size", ())),
            "tiles": meta.get("tiles", 1),
        }
        if bearing is not None:
            data.update(left_deg=bearing.left_deg, right_deg=bearing.right_deg)
        if missing:
            data["bearing_missing"] = missing
        if meta.get("pose") is not None:
            data["pose"] = str(meta["pose"])  # the PTZ preset the bearing was computed at
        return Detection(
            camera_id=camera.camera_id,
            captured_at=meta["captured_at"],
            pipeline=self.name,
            class_name=str(dets.class_name[i]),
            confidence=float(dets.confidence[i]),
            x1=float(dets.xyxy[i, 0]),
            y1=float(dets.xyxy[i, 1]),
            x2=float(dets.xyxy[i, 2]),
            y2=float(dets.xyxy[i, 3]),
            tracker_id=None if upd is None else upd.track.track_id,
            azimuth_deg=None if bearing is None else float(bearing.azimuth_deg),
            model_name=str(meta["model"]),
            model_version=str(meta["model_version"]),
            calibration_version=geo.calibration_version or camera.calibration_version,
            data=data,
        )

    @staticmethod
    def _detections_write(rows: list[tuple[Detection, Hit | None]]) -> Write:
        def write(session: Session) -> None:
            session.add_all([r for r, _ in rows])
            session.flush()
            for row, hit in rows:
                if hit is not None:  # the alert write links these rows to the alert
                    hit.row_ids.append(int(row.id))

        return write

    def _alert_write(self, event: Event, meta: dict[str, Any]) -> Write:
        from vigie.services.fire_alerts import AlertDraft, upsert_alert, write_frame

        loc = event.localisation
        range_m = self.config.localisation.max_range_m
        bearings = [_bearing_entry(s, range_m) for s in event.sightings.values()]
        no_bearing = sorted(
            f"{s.camera.slug}: {s.reason}" for s in event.sightings.values() if s.bearing is None
        )
        if no_bearing:
            log.info("event %s: cameras without bearing (%s)", event.public_id, "; ".join(no_bearing))
        best = event.best
        frame_rel = (
            f"alerts/{event.public_id}.jpg" if best is not None and self.data_dir is not None else None
        )
        calibrations = sorted(
            {s.camera.calibration_version for s in event.sightings.values() if s.camera.calibration_version}
        )
        draft = AlertDraft(
            public_id=event.public_id,
            site_id=event.site_id,
            kind=event.kind,
            first_seen_at=event.first_seen_at,
            last_seen_at=event.last_seen_at,
            model_name=str(meta["model"]),
            model_version=str(meta["model_version"]),
            location=None if loc is None or loc.point is None else (loc.point.x, loc.point.y),
            uncertainty=None if loc is None else loc.uncertainty,
            bearings=bearings,
            cameras=list(event.sightings),
            confidence=float(event.confidence),
            danger_level=event.danger_level,
            calibration_version=",".join(calibrations)[:100] or None,
            frame_path=frame_rel,
            frame_box=None if best is None else list(best.xyxy),
            frame_camera_id=None if best is None else best.camera_id,
        )
        hits = [h for t in event.tracks for h in t.hits]
        notifier = self.notifier
        data_dir = self.data_dir

        def write(session: Session) -> None:
            if best is not None and frame_rel is not None and data_dir is not None and not best.saved:
                write_frame(data_dir / frame_rel, best.jpeg)
                best.saved = True
            # data_dir: a frame of another path this draft replaces (an ingested one) is deleted on commit.
            alert, created = upsert_alert(session, alert=draft, data_dir=data_dir)
            row_ids = sorted({i for h in hits for i in h.row_ids})
            if row_ids:
                session.execute(
                    update(Detection)
                    .where(Detection.id.in_(row_ids), Detection.alert_id.is_(None))
                    .values(alert_id=alert.id)
                )
            if created:
                log.warning(
                    "new %s alert %s (site %s, cameras %s)",
                    alert.kind,
                    alert.public_id,
                    alert.site_id,
                    alert.cameras,
                )
                if notifier is not None and data_dir is not None:
                    from vigie.services.fire_notify import alert_payload, notify_after_commit
                    from vigie.services.fire_views import alert_out

                    body = alert_out(session, alert, data_dir=data_dir).model_dump(mode="json")
                    notify_after_commit(session, notifier, alert_payload(body))

        return write


# Why a camera gives no bearing (CameraGeometry.missing) → the reason an alert's bearing carries.
BEARING_REASONS = {
    "no heading": NO_HEADING,
    "no field of view": NO_FIELD_OF_VIEW,
    "unknown pose": "camera is at a PTZ preset (pose) it does not know",
}


def _bearing_entry(sighting: Sighting, range_m: float) -> dict[str, Any]:
    """One camera's entry in `alerts.bearings`: its cone, or a null azimuth with the reason in words."""
    camera = sighting.camera
    common = {"camera_id": camera.camera_id, "camera": camera.slug, "seen_at": sighting.seen_at}
    b = sighting.bearing
    if b is None:
        reason = BEARING_REASONS.get(sighting.reason or "", sighting.reason or "bearing unavailable")
        return {**common, "azimuth_deg": None, "reason": reason}
    return {
        **common,
        "azimuth_deg": b.azimuth_deg,
        "left_deg": b.left_deg,
        "right_deg": b.right_deg,
        "range_m": range_m,
    }


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any valid BGR image
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()
