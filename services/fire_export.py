"""Training data from operator-labelled alerts, in YOLO format (ultralytics' `data.yaml` layout).

A confirmed alert gives its frame and one box labelled with the alert's kind (class ids of the fire/smoke
model: 0 smoke, 1 fire); a false alarm gives its frame with an empty label file, a hard negative that
teaches the model what it wrongly took for smoke (clouds, dust, sun glare). The label is the operator's
last verdict, so an alert confirmed then closed still counts as confirmed.

Images are split into train/val by a hash of the alert's public id: stable from one export to the next,
so that a growing export never moves an image from val into train.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from vigie.errors import InvalidInputError
from vigie.services.fire_alerts import LABEL_STATUSES, operator_label
from vigie.services.fire_views import frame_file, image_size
from vigie.store.models import Alert, AlertEvent, AlertKind, AlertStatus

logger = logging.getLogger(__name__)

CLASS_IDS = {AlertKind.SMOKE: 0, AlertKind.FIRE: 1}  # the fire-smoke-yolov8 model's classes


@dataclass
class ExportSummary:
    out_dir: Path
    positives: int = 0
    negatives: int = 0
    skipped: list[str] = field(default_factory=list)  # "public_id: why"
    splits: dict[str, int] = field(default_factory=lambda: {"train": 0, "val": 0})

    @property
    def images(self) -> int:
        return self.positives + self.negatives


def parse_statuses(text: str) -> tuple[AlertStatus, ...]:
    """'confirmed,false_alarm' → statuses; only operator labels are accepted."""
    wanted = [part.strip().replace("-", "_") for part in text.split(",") if part.strip()]
    allowed = {s.value for s in LABEL_STATUSES}
    if not wanted or any(w not in allowed for w in wanted):
        raise InvalidInputError(
            f"--status {text!r}: expected a comma-separated subset of {', '.join(sorted(allowed))}"
        )
    return tuple(AlertStatus(w) for w in dict.fromkeys(wanted))


def split_of(public_id: str, val_fraction: float) -> str:
    bucket = int(hashlib.sha256(public_id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if bucket < val_fraction else "train"


def yolo_line(class_id: int, box: Iterable[float], width: int, height: int) -> str:
    """'class cx cy w h', normalised to the image, box clipped to it."""
    x1, y1, x2, y2 = (float(v) for v in box)
    x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
    y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
    if x2 <= x1 or y2 <= y1:
        raise InvalidInputError(f"box {[x1, y1, x2, y2]} is empty once clipped to the {width}×{height} image")
    cx, cy = (x1 + x2) / 2 / width, (y1 + y2) / 2 / height
    return f"{class_id} {cx:.6f} {cy:.6f} {(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"


def export_training_data(
    session: Session,
    *,
    data_dir: Path,
    out_dir: Path,
    statuses: Iterable[AlertStatus | str] = LABEL_STATUSES,
    val_fraction: float = 0.2,
) -> ExportSummary:
    """Write images/{train,val}/<public_id>.jpg, labels/{train,val}/<public_id>.txt and data.yaml."""
    wanted = {AlertStatus(s) for s in statuses}
    if not wanted or not wanted <= set(LABEL_STATUSES):
        raise InvalidInputError(f"statuses {sorted(wanted)}: expected confirmed and/or false_alarm")
    if not 0 <= val_fraction < 1:
        raise InvalidInputError(f"val_fraction {val_fraction}: expected 0 <= fraction < 1")
    summary = ExportSummary(out_dir=out_dir)
    # Only alerts that went through a labelling status can carry a label.
    labelled = select(AlertEvent.alert_id).where(AlertEvent.to_status.in_(list(LABEL_STATUSES)))
    alerts = session.scalars(
        select(Alert).where(Alert.id.in_(labelled)).options(selectinload(Alert.events)).order_by(Alert.id)
    )
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    for alert in alerts:
        label = operator_label(alert)
        if label not in wanted:
            continue
        frame = frame_file(alert, data_dir=data_dir)
        if frame is None:
            summary.skipped.append(f"{alert.public_id}: frame {alert.frame_path!r} missing")
            continue
        size = image_size(frame)
        if size is None:
            summary.skipped.append(f"{alert.public_id}: frame {frame} unreadable")
            continue
        lines: list[str] = []
        if label == AlertStatus.CONFIRMED:
            if not alert.frame_box:
                summary.skipped.append(f"{alert.public_id}: confirmed but has no box")
                continue
            try:
                lines.append(yolo_line(CLASS_IDS[AlertKind(alert.kind)], alert.frame_box, *size))
            except InvalidInputError as exc:
                summary.skipped.append(f"{alert.public_id}: {exc}")
                continue
        split = split_of(alert.public_id, val_fraction)
        suffix = frame.suffix.lower() or ".jpg"
        shutil.copyfile(frame, out_dir / "images" / split / f"{alert.public_id}{suffix}")
        (out_dir / "labels" / split / f"{alert.public_id}.txt").write_text("".join(f"{ln}\n" for ln in lines))
        summary.splits[split] += 1
        if lines:
            summary.positives += 1
        else:
            summary.negatives += 1
    for reason in summary.skipped:
        logger.warning("training export skipped %s", reason)
    (out_dir / "data.yaml").write_text(
        "# Written by `vigie export training-data`: operator-labelled fire alerts (YOLO format).\n"
        f"path: {out_dir.resolve().as_posix()}\n"
        "train: images/train\n"
        "val: images/val\n"
        "names:\n"
        + "".join(
            f"  {class_id}: {kind.value}\n"
            for kind, class_id in sorted(CLASS_IDS.items(), key=lambda kv: kv[1])
        )
    )
    return summary
