"""`vigie export training-data`: YOLO images + labels from operator-labelled alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy
from PIL import Image
from sqlalchemy.orm import Session

from vigie.cli import build_parser
from vigie.errors import InvalidInputError
from vigie.services.fire_alerts import AlertDraft, transition, upsert_alert
from vigie.services.fire_export import export_training_data, parse_statuses, split_of, yolo_line
from vigie.settings import get_settings
from vigie.store.db import make_sessionmaker

T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)


def add_alert(
    session: Session,
    data_dir: Path,
    public_id: str,
    *,
    kind: str = "smoke",
    frame: bool = True,
    box: list[float] | None = None,
    path: tuple[str, ...] = (),
) -> None:
    if frame:
        (data_dir / "alerts").mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (400, 200), (120, 120, 120)).save(data_dir / "alerts" / f"{public_id}.jpg")
    alert, _ = upsert_alert(
        session,
        alert=AlertDraft(
            public_id=public_id,
            site_id=None,
            kind=kind,
            first_seen_at=T0,
            last_seen_at=T0,
            model_name="m",
            model_version="1",
            frame_path=f"alerts/{public_id}.jpg",
            frame_box=box,
        ),
    )
    for step in path:
        transition(session, alert_id=alert.id, to_status=step, actor="op")


@pytest.fixture
def labelled(session: Session, tmp_path: Path) -> Path:
    data_dir = tmp_path / "data"
    add_alert(
        session, data_dir, "fire-ok", kind="fire", box=[100, 50, 200, 150], path=("confirmed", "closed")
    )
    add_alert(session, data_dir, "smoke-ok", box=[0, 0, 40, 20], path=("acknowledged", "confirmed"))
    add_alert(session, data_dir, "cloud", box=[10, 10, 60, 60], path=("false_alarm", "closed"))
    add_alert(session, data_dir, "unlabelled", box=[10, 10, 60, 60], path=("acknowledged",))
    add_alert(session, data_dir, "closed-unlabelled", box=[10, 10, 60, 60], path=("closed",))
    add_alert(session, data_dir, "no-frame", frame=False, box=[10, 10, 60, 60], path=("confirmed",))
    add_alert(session, data_dir, "no-box", path=("confirmed",))
    session.commit()
    return data_dir


def labels_by_id(out: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in out.glob("labels/*/*.txt")}


def test_export_positives_and_hard_negatives(session: Session, labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "dataset"
    summary = export_training_data(session, data_dir=labelled, out_dir=out)
    labels = labels_by_id(out)
    assert set(labels) == {"fire-ok", "smoke-ok", "cloud"}
    assert labels["fire-ok"] == "1 0.375000 0.500000 0.250000 0.500000\n"  # class 1 fire, box centre/size
    assert labels["smoke-ok"].startswith("0 ")
    assert labels["cloud"] == ""  # hard negative: image without boxes
    assert (summary.positives, summary.negatives) == (2, 1)
    assert sorted(s.split(":")[0] for s in summary.skipped) == ["no-box", "no-frame"]
    images = {p.stem for p in out.glob("images/*/*.jpg")}
    assert images == set(labels)
    for label in out.glob("labels/*/*.txt"):  # image and label share the split folder
        assert (out / "images" / label.parent.name / f"{label.stem}.jpg").is_file()
    data = (out / "data.yaml").read_text()
    assert "train: images/train" in data and "0: smoke" in data and "1: fire" in data


def test_export_only_false_alarms(session: Session, labelled: Path, tmp_path: Path) -> None:
    out = tmp_path / "negatives"
    summary = export_training_data(
        session, data_dir=labelled, out_dir=out, statuses=parse_statuses("false-alarm")
    )
    assert set(labels_by_id(out)) == {"cloud"} and summary.positives == 0


def test_helpers_validate_inputs() -> None:
    with pytest.raises(InvalidInputError, match="--status"):
        parse_statuses("confirmed,closed")
    with pytest.raises(InvalidInputError, match="empty once clipped"):
        yolo_line(0, [500, 10, 600, 20], 400, 200)
    assert yolo_line(0, [-10, -10, 40, 20], 400, 200) == "0 0.050000 0.050000 0.100000 0.100000"
    assert split_of("abc", 0.0) == "train"
    assert {split_of(f"id-{i}", 0.5) for i in range(50)} == {"train", "val"}
    assert split_of("abc", 0.3) == split_of("abc", 0.3)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_handler(
    db_url: str,
    engine: sqlalchemy.Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data_dir = tmp_path / "data"
    with make_sessionmaker(engine)() as session:
        add_alert(session, data_dir, "cli-fire", kind="fire", box=[1, 1, 30, 30], path=("confirmed",))
        session.commit()
    monkeypatch.setenv("VIGIE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("VIGIE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    try:
        parser = build_parser()
        out = tmp_path / "out"
        args = parser.parse_args(["export", "training-data", "--out", str(out), "--status", "confirmed"])
        assert args.func(args) == 0
        assert "1 image(s)" in capsys.readouterr().out
        assert set(labels_by_id(out)) == {"cli-fire"}
        bad = parser.parse_args(["export", "training-data", "--out", str(out), "--status", "new"])
        with pytest.raises(InvalidInputError):
            bad.func(bad)
    finally:
        get_settings.cache_clear()
