"""`vigie export zones` and `vigie export od`, run through `vigie.cli.main` on migrated SQLite and PostgreSQL
databases holding zone and OD bins: the API's filters, formats and file names, and the CLI's exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from fastapi.testclient import TestClient

from vigie.api.app import create_app
from vigie.cli import main
from vigie.services.tokens import create_token
from vigie.settings import Settings, get_settings
from vigie.store.db import session_scope
from vigie.store.models import Camera, CameraRole, ODBin, Site, SiteKind, ZoneBin

T0 = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 08:00 in Paris (CET, +01:00)
NEXT_DAY = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
BIN = timedelta(minutes=15)
PROVENANCE = {"model_name": "coco-yolov4-tiny", "model_version": "test"}


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """`main` reads the settings: keep them off the developer's environment and files."""
    monkeypatch.setenv("VIGIE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("VIGIE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIGIE_ENV", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def zone_bin(camera: Camera, start: datetime, class_name: str, entries: int, **extra: object) -> ZoneBin:
    values: dict[str, object] = dict(
        mean_occupancy=entries / 3,
        max_occupancy=entries,
        dwell_samples=entries,
        mean_dwell_s=4.25 if entries else None,
        median_dwell_s=3.5 if entries else None,
        partial=False,
    )
    return ZoneBin(
        site_id=camera.site_id,
        camera_id=camera.id,
        zone="plaza",
        class_name=class_name,
        period_start=start,
        period_end=start + BIN,
        entries=entries,
        **(values | extra),
        **PROVENANCE,
    )


def od_bin(camera: Camera, start: datetime, origin: str, destination: str, count: int) -> ODBin:
    return ODBin(
        site_id=camera.site_id,
        camera_id=camera.id,
        origin=origin,
        destination=destination,
        class_name="car",
        period_start=start,
        period_end=start + BIN,
        count=count,
        partial=False,
        **PROVENANCE,
    )


@pytest.fixture
def db(db_url: str, engine: sqlalchemy.Engine) -> str:
    """Site `fecamp`: cameras `north` and `south`, zone and OD bins on 27 and 28 November; returns its URL."""
    with session_scope(engine) as s:
        site = Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris")
        s.add(site)
        s.flush()
        north, south = (
            Camera(site_id=site.id, slug=slug, name=slug.title(), role=CameraRole.TRAFFIC)
            for slug in ("north", "south")
        )
        s.add_all([north, south])
        s.flush()
        s.add_all(
            [
                zone_bin(north, T0, "car", 6),
                zone_bin(north, T0, "heavy", 0),
                zone_bin(north, T0 + BIN, "car", 3, partial=True),
                zone_bin(south, T0, "car", 2),
                zone_bin(north, NEXT_DAY, "car", 9),
                od_bin(north, T0, "a", "b", 5),
                od_bin(north, T0, "b", "a", 2),
                od_bin(north, T0 + BIN, "a", "b", 4),
                od_bin(south, T0, "a", "b", 1),
                od_bin(north, NEXT_DAY, "a", "b", 7),
            ]
        )
    return db_url


DAY = ["--site", "fecamp", "--from", "2026-11-27", "--to", "2026-11-27"]


def test_zones_csv_to_stdout(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "zones", *DAY, "--db-url", db]) == 0  # csv by default, as in the API
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["camera"], r["class"], r["period_start"], r["entries"]) for r in rows] == [
        ("north", "car", "2026-11-27T08:00:00+01:00", "6"),
        ("north", "heavy", "2026-11-27T08:00:00+01:00", "0"),
        ("north", "car", "2026-11-27T08:15:00+01:00", "3"),
        ("south", "car", "2026-11-27T08:00:00+01:00", "2"),
    ]  # the 28th is left out
    first, heavy, late = rows[0], rows[1], rows[2]
    assert (first["period_end"], first["mean_occupancy"], first["median_dwell_s"]) == (
        "2026-11-27T08:15:00+01:00",
        "2.0",
        "3.5",
    )
    assert heavy["mean_dwell_s"] == "" and (first["partial"], late["partial"]) == ("false", "true")


def test_zones_json_filtered_by_camera_and_class(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["export", "zones", *DAY, "--camera", "north", "--class", "heavy", "--format", "json"]
    assert main([*argv, "--db-url", db]) == 0
    document = json.loads(capsys.readouterr().out)
    assert (document["camera"], document["classes"], document["from"]) == (
        "north",
        ["heavy"],
        "2026-11-27T00:00:00+01:00",
    )
    assert [(z["zone"], z["entries"], z["mean_dwell_s"]) for z in document["zones"]] == [("plaza", 0, None)]


def test_od_json_into_a_folder_uses_the_api_file_name(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    assert main(["export", "od", *DAY, "--out", str(folder), "--db-url", db]) == 0  # json by default
    path = folder / "od-fecamp-20261127.json"
    assert f"to {path}" in capsys.readouterr().err
    document = json.loads(path.read_text(encoding="utf-8"))
    totals = {(t["camera"], t["origin"], t["destination"]): t["count"] for t in document["totals"]}
    assert totals == {("north", "a", "b"): 9, ("north", "b", "a"): 2, ("south", "a", "b"): 1}
    assert len(document["od"]) == 4


def test_od_csv_to_a_file_within_local_hours(db: str, tmp_path: Path) -> None:
    out = tmp_path / "od.csv"
    argv = ["export", "od", "--site", "fecamp", "--format", "csv", "--camera", "north"]
    bounds = ["--from", "2026-11-27T08:15", "--to", "2026-11-27T09:00"]  # local wall time at the site
    assert main([*argv, *bounds, "--out", str(out), "--db-url", db]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [(r["origin"], r["destination"], r["period_start"], r["count"]) for r in rows] == [
        ("a", "b", "2026-11-27T08:15:00+01:00", "4")
    ]


FLOW_EXPORTS = [("zones", "csv"), ("zones", "json"), ("od", "json"), ("od", "csv")]


@pytest.mark.parametrize(("kind", "fmt"), FLOW_EXPORTS)
def test_the_cli_writes_what_the_api_serves(
    db: str, engine: sqlalchemy.Engine, capsys: pytest.CaptureFixture[str], kind: str, fmt: str
) -> None:
    secret = "traffic-export-cli-tests-" + "k" * 32
    with session_scope(engine) as s:
        _, token = create_token(s, name="planner", roles=["planner"], secret=secret)
    settings = Settings(_env_file=None, env="test", secret_key=secret, database_url=db)
    params = {"site": "fecamp", "from": "2026-11-27", "to": "2026-11-27", "format": fmt}
    with TestClient(create_app(settings, engine=engine)) as client:
        response = client.get(
            f"/api/v1/traffic/{kind}", params=params, headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 200, response.text
    assert main(["export", kind, *DAY, "--format", fmt, "--db-url", db]) == 0
    assert capsys.readouterr().out == response.text


@pytest.mark.parametrize(
    ("kind", "extra", "code", "message"),
    [
        ("zones", ["--site", "nowhere"], 3, "'nowhere'"),
        ("od", ["--site", "fecamp", "--camera", "east"], 3, "camera 'east'"),
        ("zones", ["--site", "fecamp", "--class", "lorry"], 2, "class 'lorry'"),
        ("od", ["--site", "fecamp", "--from", "2026-11-28", "--to", "2026-11-27"], 2, "is not before to"),
        ("od", ["--site", "fecamp", "--from", "27/11/2026"], 2, "from '27/11/2026'"),
    ],
)
def test_bad_filters_exit_with_the_cli_codes_and_write_nothing(
    db: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    kind: str,
    extra: list[str],
    code: int,
    message: str,
) -> None:
    out = tmp_path / "export.out"
    assert main(["export", kind, *extra, "--out", str(out), "--db-url", db]) == code
    err = capsys.readouterr().err
    assert err.startswith("vigie: error: ") and message in err
    assert not out.exists()


def test_unwritable_output_and_unknown_format_are_invalid_input(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "zones", *DAY, "--out", "/nonexistent-dir/z.csv", "--db-url", db]) == 2
    assert "--out /nonexistent-dir/z.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # argparse refuses it before any database work
        main(["export", "od", *DAY, "--format", "xlsx", "--db-url", db])
    assert exit_.value.code == 2 and "xlsx" in capsys.readouterr().err


def test_unmigrated_database_is_a_config_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    sqlalchemy.create_engine(url).dispose()
    assert main(["export", "od", "--site", "fecamp", "--db-url", url]) == 2
    assert "vigie db upgrade" in capsys.readouterr().err
