"""services.fire_alerts: creation and merging by event id, the life cycle, the fire-danger level."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from shapely.geometry import Point, Polygon
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from vigie.errors import ConflictError, InvalidInputError, NotFoundError
from vigie.services.fire_alerts import (
    DEFAULT_DANGER_LEVEL,
    NO_HEADING,
    AlertDraft,
    current_danger_level,
    list_alerts,
    operator_label,
    set_danger_level,
    transition,
    upsert_alert,
)
from vigie.store.db import make_sessionmaker
from vigie.store.models import Alert, AlertEvent, AlertKind, AlertStatus, Camera, FireDangerLevel, Site

T0 = datetime(2026, 7, 14, 13, 0, tzinfo=UTC)


def draft(site: Site, camera: Camera, **overrides) -> AlertDraft:
    values = dict(
        public_id="evt-1",
        site_id=site.id,
        kind="smoke",
        first_seen_at=T0,
        last_seen_at=T0 + timedelta(seconds=30),
        model_name="fire-smoke-yolov8",
        model_version="1.0.3",
        bearings=[
            {
                "camera_id": camera.id,
                "camera": camera.slug,
                "azimuth_deg": 175.0,
                "left_deg": 174.0,
                "right_deg": 176.0,
                "range_m": 15000.0,
                "seen_at": T0 + timedelta(seconds=30),
            }
        ],
        cameras=[camera.id],
        confidence=0.55,
        danger_level=3,
        frame_path="alerts/evt-1.jpg",
        frame_box=[100.0, 200.0, 180.0, 260.0],
        frame_camera_id=camera.id,
    )
    values.update(overrides)
    return AlertDraft(**values)


def test_create_records_the_alert_and_its_creation_event(session: Session, two_towers) -> None:
    site, north, _ = two_towers
    alert, created = upsert_alert(session, alert=draft(site, north))
    assert created
    assert alert.status == AlertStatus.NEW
    assert alert.kind == AlertKind.SMOKE
    assert alert.danger_level == "3"
    # datetimes inside bearings become ISO strings (JSON column)
    assert alert.bearings[0]["seen_at"] == (T0 + timedelta(seconds=30)).isoformat()
    events = session.scalars(select(AlertEvent).where(AlertEvent.alert_id == alert.id)).all()
    assert [(e.from_status, e.to_status, e.actor) for e in events] == [(None, AlertStatus.NEW, "pipeline")]


def test_merge_same_event_widens_period_and_adds_camera(session: Session, two_towers) -> None:
    site, north, south = two_towers
    first, _ = upsert_alert(session, alert=draft(site, north))
    uncertainty = Polygon([(5.41, 43.50), (5.43, 43.50), (5.43, 43.52), (5.41, 43.52)])
    second = draft(
        site,
        south,
        kind="fire",
        first_seen_at=T0 + timedelta(seconds=20),
        last_seen_at=T0 + timedelta(minutes=2),
        location=(5.42, 43.51),
        uncertainty=uncertainty,
        confidence=0.8,
        frame_path="alerts/evt-1-b.jpg",
        frame_box=[10.0, 20.0, 30.0, 40.0],
        frame_camera_id=south.id,
    )
    merged, created = upsert_alert(session, alert=second)
    assert not created and merged.id == first.id
    assert merged.first_seen_at == T0 and merged.last_seen_at == T0 + timedelta(minutes=2)
    assert merged.kind == AlertKind.FIRE  # escalated
    assert sorted(merged.cameras) == sorted([north.id, south.id])
    assert {b["camera_id"] for b in merged.bearings} == {north.id, south.id}
    assert merged.location.equals(Point(5.42, 43.51))
    assert (
        merged.frame_path == "alerts/evt-1-b.jpg" and merged.frame_camera_id == south.id
    )  # higher confidence
    # A weaker later draft keeps the better frame, the smoke draft does not downgrade fire.
    weaker = draft(
        site, north, confidence=0.3, frame_path="alerts/weak.jpg", last_seen_at=T0 + timedelta(minutes=3)
    )
    merged, _ = upsert_alert(session, alert=weaker)
    assert merged.frame_path == "alerts/evt-1-b.jpg" and merged.kind == AlertKind.FIRE
    assert merged.confidence == pytest.approx(0.8)


def test_identical_draft_changes_nothing(session: Session, two_towers) -> None:
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    session.commit()
    before = alert.updated_at
    _, created = upsert_alert(session, alert=draft(site, north))
    assert not created
    assert not session.dirty  # nothing to write: updated_at (what the SSE stream watches) stays put
    session.commit()
    assert alert.updated_at == before


def test_merge_keeps_the_operators_status(session: Session, two_towers) -> None:
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    transition(session, alert_id=alert.id, to_status="false_alarm", actor="op")
    merged, created = upsert_alert(session, alert=draft(site, north, last_seen_at=T0 + timedelta(hours=1)))
    assert not created and merged.status == AlertStatus.FALSE_ALARM


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": "flood"}, "kind"),
        ({"last_seen_at": T0 - timedelta(seconds=1)}, "before first_seen_at"),
        ({"first_seen_at": datetime(2026, 7, 14, 13, 0)}, "timezone-aware"),
        ({"confidence": 1.5}, "confidence"),
        ({"location": (700000.0, 6600000.0)}, "location"),
        ({"frame_box": [10.0, 10.0, 5.0, 20.0]}, "frame_box"),
        ({"frame_path": "../../etc/passwd"}, "frame_path"),
        ({"bearings": [{"camera": "north"}]}, "bearing"),
        ({"bearings": [{"camera_id": 1, "azimuth_deg": None}]}, "reason"),
        ({"bearings": [{"camera_id": 1, "azimuth_deg": None, "reason": "  "}]}, "reason"),
        ({"bearings": [{"camera_id": 1, "azimuth_deg": float("nan")}]}, "azimuth"),
        ({"bearings": [{"camera_id": 1, "azimuth_deg": "north"}]}, "azimuth"),
        (
            {"bearings": [{"camera_id": 1, "azimuth_deg": None, "reason": NO_HEADING, "left_deg": 3.0}]},
            "cone edges",
        ),
    ],
)
def test_bad_drafts_are_refused_with_the_field_named(
    session: Session, two_towers, overrides: dict, message: str
) -> None:
    site, north, _ = two_towers
    with pytest.raises(InvalidInputError, match=message):
        upsert_alert(session, alert=draft(site, north, **overrides))


def unknown_bearing(camera: Camera, seen_at: datetime) -> dict:
    return {"camera_id": camera.id, "camera": camera.slug, "azimuth_deg": None, "reason": NO_HEADING,
            "seen_at": seen_at}  # fmt: skip


def test_a_bearing_without_azimuth_is_kept_with_its_reason(session: Session, two_towers) -> None:
    site, north, south = two_towers
    seen = T0 + timedelta(seconds=30)
    alert, created = upsert_alert(session, alert=draft(site, south, bearings=[unknown_bearing(south, seen)]))
    assert created
    (stored,) = alert.bearings
    assert stored["azimuth_deg"] is None and stored["reason"] == NO_HEADING
    assert stored["seen_at"] == seen.isoformat()
    # Another camera with a heading joins: both bearings are kept, one per camera.
    with_north = draft(site, north, last_seen_at=T0 + timedelta(minutes=1))
    merged, created = upsert_alert(session, alert=with_north)
    assert not created
    by_camera = {b["camera_id"]: b for b in merged.bearings}
    assert by_camera[south.id]["reason"] == NO_HEADING and by_camera[north.id]["azimuth_deg"] == 175.0
    # Once the camera has a heading, its later bearing replaces the unknown one.
    later = {**draft(site, south).bearings[0], "seen_at": T0 + timedelta(minutes=2)}
    merged, _ = upsert_alert(session, alert=draft(site, south, bearings=[later]))
    by_camera = {b["camera_id"]: b for b in merged.bearings}
    assert by_camera[south.id]["azimuth_deg"] == 175.0 and "reason" not in by_camera[south.id]


LEGAL = [
    ("acknowledged", "confirmed", "closed"),
    ("acknowledged", "false_alarm", "closed"),
    ("confirmed", "closed"),
    ("false_alarm", "closed"),
    ("closed",),
    ("acknowledged", "closed"),
]


@pytest.mark.parametrize("path", LEGAL)
def test_legal_paths_record_every_move(session: Session, two_towers, path: tuple[str, ...]) -> None:
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    for step in path:
        transition(session, alert_id=alert.id, to_status=step, actor="operator-1", note=f"to {step}")
    assert alert.status == AlertStatus(path[-1])
    moves = [(e.from_status, e.to_status, e.actor) for e in alert.events[1:]]
    expected_from = ["new", *path[:-1]]
    assert moves == [
        (AlertStatus(f), AlertStatus(t), "operator-1") for f, t in zip(expected_from, path, strict=True)
    ]


@pytest.mark.parametrize(
    ("before", "target"),
    [
        ((), "new"),
        (("confirmed",), "false_alarm"),
        (("false_alarm",), "confirmed"),
        (("acknowledged",), "acknowledged"),
        (("closed",), "acknowledged"),
        (("closed",), "closed"),
        (("confirmed",), "acknowledged"),
    ],
)
def test_illegal_moves_conflict(session: Session, two_towers, before: tuple[str, ...], target: str) -> None:
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    for step in before:
        transition(session, alert_id=alert.id, to_status=step, actor="op")
    with pytest.raises(ConflictError, match="cannot become"):
        transition(session, alert_id=alert.id, to_status=target, actor="op")


def test_transition_unknown_alert_or_status(session: Session, two_towers) -> None:
    with pytest.raises(NotFoundError):
        transition(session, alert_id=999, to_status="closed", actor="op")
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    with pytest.raises(InvalidInputError, match="to_status"):
        transition(session, alert_id=alert.id, to_status="burning", actor="op")


def test_operator_label_survives_closing(session: Session, two_towers) -> None:
    site, north, _ = two_towers
    alert, _ = upsert_alert(session, alert=draft(site, north))
    assert operator_label(alert) is None
    transition(session, alert_id=alert.id, to_status="confirmed", actor="op")
    transition(session, alert_id=alert.id, to_status="closed", actor="op")
    assert operator_label(alert) == AlertStatus.CONFIRMED


def test_list_alerts_active_and_since(session: Session, two_towers) -> None:
    site, north, _ = two_towers
    upsert_alert(session, alert=draft(site, north, public_id="a"))
    upsert_alert(session, alert=draft(site, north, public_id="b", last_seen_at=T0 + timedelta(minutes=5)))
    c, _ = upsert_alert(session, alert=draft(site, north, public_id="c"))
    transition(session, alert_id=c.id, to_status="false_alarm", actor="op")
    assert [x.public_id for x in list_alerts(session)] == ["b", "a"]  # most recently seen first
    assert {x.public_id for x in list_alerts(session, active_only=False)} == {"a", "b", "c"}
    session.commit()
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert list_alerts(session, active_only=False, since=later) == []
    assert {x.public_id for x in list_alerts(session, active_only=False, since=T0)} == {"a", "b", "c"}


def test_danger_level_default_site_and_all_sites(session: Session, two_towers) -> None:
    site, _, _ = two_towers
    day = date(2026, 7, 14)
    assert current_danger_level(session, site_id=site.id, day=day) == DEFAULT_DANGER_LEVEL
    set_danger_level(session, site_id=None, day=day, level=4, set_by="chef de salle")
    assert current_danger_level(session, site_id=site.id, day=day) == 4  # the all-sites level applies
    set_danger_level(session, site_id=site.id, day=day, level=5, set_by="chef de salle")
    assert current_danger_level(session, site_id=site.id, day=day) == 5  # the site's own level wins
    set_danger_level(
        session, site_id=None, day=day, level=2, set_by="chef de salle"
    )  # replaced, not duplicated
    assert current_danger_level(session, site_id=None, day=day) == 2
    assert current_danger_level(session, site_id=site.id, day=day + timedelta(days=1)) == DEFAULT_DANGER_LEVEL


@pytest.mark.parametrize("level", [0, 6, 2.5, True])
def test_danger_level_out_of_range(session: Session, level: object) -> None:
    with pytest.raises(InvalidInputError, match="level"):
        set_danger_level(session, site_id=None, day=date(2026, 7, 14), level=level, set_by="x")  # type: ignore[arg-type]


def test_danger_level_unknown_site(session: Session) -> None:
    with pytest.raises(NotFoundError, match="site 404"):
        set_danger_level(session, site_id=404, day=date(2026, 7, 14), level=3, set_by="x")


def test_the_latest_bearing_wins_whatever_the_offsets_of_its_times() -> None:
    from vigie.services.fire_alerts import _merge_bearings

    old = {"camera_id": 1, "azimuth_deg": 10.0, "seen_at": "2026-07-14T12:00:00+02:00"}  # 10:00 UTC
    new = {"camera_id": 1, "azimuth_deg": 11.0, "seen_at": "2026-07-14T11:00:00+00:00"}
    assert _merge_bearings([new], [old]) == [new]
    assert _merge_bearings([old], [new]) == [new]


# --- frames replaced by a merge -----------------------------------------------------------------------


def _frame(data_dir: Path, name: str) -> str:
    path = data_dir / "alerts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\xff\xd8\xff" + name.encode())
    return f"alerts/{name}"


def test_a_replaced_frame_is_deleted_after_commit_and_kept_on_rollback(
    session: Session, two_towers, tmp_path: Path
) -> None:
    site, north, south = two_towers
    first = _frame(tmp_path, "evt-1-a.jpg")
    upsert_alert(session, alert=draft(site, north, frame_path=first), data_dir=tmp_path)
    session.commit()
    better = draft(site, south, confidence=0.9, frame_path=_frame(tmp_path, "evt-1-b.jpg"))

    alert, _ = upsert_alert(session, alert=better, data_dir=tmp_path)
    assert alert.frame_path == "alerts/evt-1-b.jpg"
    assert (tmp_path / first).is_file()  # not before the commit
    session.rollback()
    assert (tmp_path / first).is_file()  # the stored row still points to it
    session.expire_all()
    assert session.scalar(select(Alert.frame_path)) == first

    upsert_alert(session, alert=better, data_dir=tmp_path)
    session.commit()
    assert not (tmp_path / first).exists()
    assert (tmp_path / "alerts" / "evt-1-b.jpg").is_file()


def test_a_merge_keeping_its_frame_deletes_nothing(session: Session, two_towers, tmp_path: Path) -> None:
    site, north, _ = two_towers
    kept = _frame(tmp_path, "evt-1.jpg")
    upsert_alert(session, alert=draft(site, north, frame_path=kept, confidence=0.8), data_dir=tmp_path)
    session.commit()
    weaker = draft(site, north, confidence=0.3, frame_path=_frame(tmp_path, "evt-1-weak.jpg"))
    upsert_alert(session, alert=weaker, data_dir=tmp_path)
    # The pipeline rewrites one file per event in place: the same path is never "replaced".
    upsert_alert(session, alert=draft(site, north, frame_path=kept, confidence=0.95), data_dir=tmp_path)
    session.commit()
    assert (tmp_path / kept).is_file()
    assert (tmp_path / "alerts" / "evt-1-weak.jpg").is_file()  # not the service's to delete: the caller's


# --- status changes from two sessions -----------------------------------------------------------------


def test_a_status_change_made_meanwhile_by_another_session_is_a_conflict(
    engine: sqlalchemy.Engine, two_towers
) -> None:
    """Operator B read the alert as `new`; operator A marks it a false alarm before B's write lands: B's
    confirmation must not overwrite it (on SQLite too, where SELECT ... FOR UPDATE does nothing)."""
    site, north, _ = two_towers
    factory = make_sessionmaker(engine)
    with factory() as setup:
        alert, _ = upsert_alert(setup, alert=draft(site, north))
        setup.commit()
        alert_id = alert.id

    fired = []

    def operator_a_first(conn, cursor, statement, parameters, context, executemany) -> None:
        # Runs just before B's UPDATE: B has already read the status and judged its move legal.
        if fired or not statement.lstrip().upper().startswith("UPDATE ALERTS"):
            return
        fired.append(True)
        with factory() as a:
            transition(a, alert_id=alert_id, to_status="false_alarm", actor="operator-a")
            a.commit()

    event.listen(engine, "before_cursor_execute", operator_a_first)
    try:
        with factory() as b:
            b_alert = b.get(Alert, alert_id)
            assert b_alert.status == AlertStatus.NEW
            with pytest.raises(ConflictError, match="changed status while"):
                transition(b, alert_id=alert_id, to_status="confirmed", actor="operator-b")
            b.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", operator_a_first)
    assert fired

    with factory() as check:
        stored = check.get(Alert, alert_id)
        assert stored.status == AlertStatus.FALSE_ALARM
        assert [(e.to_status, e.actor) for e in stored.events[1:]] == [
            (AlertStatus.FALSE_ALARM, "operator-a")
        ]
        # B, reading again, sees the false alarm: confirming is now illegal, closing is not.
        with pytest.raises(ConflictError, match="is false_alarm"):
            transition(check, alert_id=alert_id, to_status="confirmed", actor="operator-b")
        moved = transition(check, alert_id=alert_id, to_status="closed", actor="operator-b")
        assert moved.status == AlertStatus.CLOSED and moved.events[-1].from_status == AlertStatus.FALSE_ALARM


def test_a_stale_object_in_the_session_does_not_hide_the_stored_status(
    engine: sqlalchemy.Engine, two_towers
) -> None:
    site, north, _ = two_towers
    factory = make_sessionmaker(engine)
    with factory() as b:
        alert, _ = upsert_alert(b, alert=draft(site, north))
        b.commit()
        with factory() as a:
            transition(a, alert_id=alert.id, to_status="confirmed", actor="operator-a")
            a.commit()
        assert alert.status == AlertStatus.NEW  # B's object is stale
        with pytest.raises(ConflictError, match="is confirmed"):
            transition(b, alert_id=alert.id, to_status="false_alarm", actor="operator-b")
        b.rollback()
        moved = transition(b, alert_id=alert.id, to_status="closed", actor="operator-b")
        assert moved is alert and alert.status == AlertStatus.CLOSED  # the object follows the stored move


# --- one all-sites danger level per day ---------------------------------------------------------------


def test_the_database_refuses_a_second_all_sites_level_for_a_day(session: Session, two_towers) -> None:
    day = date(2026, 7, 14)
    session.add(FireDangerLevel(site_id=None, day=day, level=2, set_by="a"))
    session.flush()
    session.add(FireDangerLevel(site_id=None, day=day, level=4, set_by="b"))
    with pytest.raises(sqlalchemy.exc.IntegrityError, match=r"(?i)unique"):
        session.flush()
    session.rollback()
    # Only the all-sites row of that day is unique: other days and the sites' own levels are free.
    session.add(FireDangerLevel(site_id=None, day=day, level=2, set_by="a"))
    session.add(FireDangerLevel(site_id=None, day=day + timedelta(days=1), level=3, set_by="a"))
    session.add(FireDangerLevel(site_id=two_towers.site.id, day=day, level=5, set_by="a"))
    session.flush()
    assert current_danger_level(session, site_id=two_towers.site.id, day=day) == 5


def test_two_writers_setting_the_all_sites_level_at_once_conflict(engine: sqlalchemy.Engine) -> None:
    """Both writers look for the day's all-sites row, find none, and insert one: the second is refused."""
    factory = make_sessionmaker(engine)
    day = date(2026, 7, 14)
    fired = []

    def first_writer_lands(conn, cursor, statement, parameters, context, executemany) -> None:
        # Runs just before the second writer's INSERT, after its look found no row.
        if fired or not statement.lstrip().upper().startswith("INSERT INTO FIRE_DANGER_LEVELS"):
            return
        fired.append(True)
        with factory() as first:
            set_danger_level(first, site_id=None, day=day, level=4, set_by="chef A")
            first.commit()

    event.listen(engine, "before_cursor_execute", first_writer_lands)
    try:
        with factory() as second:
            with pytest.raises(ConflictError, match="set concurrently"):
                set_danger_level(second, site_id=None, day=day, level=2, set_by="chef B")
            second.rollback()
    finally:
        event.remove(engine, "before_cursor_execute", first_writer_lands)
    assert fired
    with factory() as check:
        assert current_danger_level(check, site_id=None, day=day) == 4
        assert len(check.scalars(select(FireDangerLevel)).all()) == 1
