"""The `vigie` command: exit codes, clear one-line errors, and the commands a newcomer runs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from vigie import __version__
from vigie.cli import main
from vigie.settings import get_settings


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("VIGIE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("VIGIE_DATABASE_URL", raising=False)
    monkeypatch.delenv("VIGIE_ENV", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert __version__ in capsys.readouterr().out


def test_db_upgrade_creates_the_embedded_database(isolated_env: Path, capsys) -> None:
    from alembic.script import ScriptDirectory

    from vigie.store.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert main(["db", "upgrade"]) == 0
    assert f"database revision: {head}" in capsys.readouterr().out
    tables = {
        r[0]
        for r in sqlite3.connect(isolated_env / "vigie.db").execute(
            "select name from sqlite_master where type='table'"
        )
    }
    assert {"sites", "cameras", "detections", "alerts", "count_bins", "plate_reads"} <= tables


def test_token_create_prints_a_token_stored_only_as_hash(isolated_env: Path, capsys) -> None:
    assert main(["token", "create", "watch-room", "--role", "operator"]) == 0
    token = capsys.readouterr().out.strip()
    assert len(token) >= 32
    rows = (
        sqlite3.connect(isolated_env / "vigie.db")
        .execute("select token_hash, roles from api_tokens")
        .fetchall()
    )
    assert len(rows) == 1 and token not in rows[0][0] and "operator" in rows[0][1]


def test_unknown_pipeline_exits_2_naming_the_choices(tmp_path: Path, capsys) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("site: {slug: a, name: A, kind: fire}\n")
    assert main(["run", "teleport", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vigie: error: unknown pipeline 'teleport'") and "detect" in err


def test_invalid_config_exits_2_naming_file_and_key(tmp_path: Path, capsys) -> None:
    config = tmp_path / "site.yaml"
    config.write_text("site: {slug: a, name: A, kind: fire}\ncameras:\n  - {slug: c, name: C, role: pilot}\n")
    assert main(["run", "detect", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "site.yaml:3" in err and "cameras.0.role" in err


def test_missing_model_exits_4_with_the_fetch_command(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIGIE_WEIGHTS_DIR", str(tmp_path / "empty-cache"))
    get_settings.cache_clear()
    video = tmp_path / "v.avi"
    video.write_bytes(b"")
    config = tmp_path / "site.yaml"
    config.write_text(
        "site: {slug: a, name: A, kind: mixed}\n"
        "cameras:\n  - {slug: c, name: C, role: other, source: {type: file, path: v.avi}}\n"
        "detect: {detector: {type: darknet, model: coco-yolov4-tiny}}\n"
    )
    assert main(["run", "detect", "--config", str(config)]) == 4
    assert "vigie weights fetch coco-yolov4-tiny" in capsys.readouterr().err


def test_one_shot_commands_exit_3_for_a_missing_input(tmp_path: Path, capsys) -> None:
    missing = str(tmp_path / "missing.avi")
    assert main(["count", missing, "--line", "0,0,10,10", "--out", str(tmp_path / "c.csv")]) == 3
    assert main(["plates", missing, "--out", str(tmp_path / "r.csv")]) == 3
    assert main(["smoke", missing]) == 3
    assert capsys.readouterr().err.count("missing.avi") == 3


def test_weights_verify_reports_missing_files(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIGIE_WEIGHTS_DIR", str(tmp_path / "empty-cache"))
    get_settings.cache_clear()
    assert main(["weights", "verify", "plate-yolov8n"]) == 4
    assert "missing" in capsys.readouterr().out


@pytest.mark.slow
def test_run_detect_stores_detections_with_provenance(isolated_env: Path, repo_root: Path) -> None:
    assert (
        main(
            ["run", "detect", "--config", str(repo_root / "examples/detect-sample.yaml"), "--max-frames", "3"]
        )
        == 0
    )
    db = sqlite3.connect(isolated_env / "vigie.db")
    rows = db.execute("select class_name, model_name, model_version, captured_at from detections").fetchall()
    assert rows, "the plaza video has people in every frame"
    assert {r[1] for r in rows} == {"coco-yolov4-tiny"} and all(r[2] for r in rows)
    assert "person" in {r[0] for r in rows}
    state, frames = db.execute("select state, frames_read from camera_health").fetchone()
    assert frames == 3 and state == "up"


@pytest.mark.slow
def test_demo_without_serving_runs_every_pipeline(isolated_env: Path, capsys) -> None:
    assert main(["demo", "--no-serve"]) == 0
    out = capsys.readouterr().out
    assert "detections stored: person" in out
    again = main(["demo", "--no-serve"])  # replayed, not doubled
    assert again == 0
    assert capsys.readouterr().out.splitlines()[-1] == out.splitlines()[-1]


def test_demo_is_refused_in_production(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIGIE_ENV", "production")
    monkeypatch.setenv("VIGIE_SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    assert main(["demo", "--no-serve"]) == 2
    assert "production" in capsys.readouterr().err


def test_an_invalid_environment_exits_2_naming_the_setting(monkeypatch, capsys) -> None:
    monkeypatch.setenv("VIGIE_ENV", "production")
    monkeypatch.delenv("VIGIE_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    assert main(["db", "current"]) == 2
    assert "VIGIE_SECRET_KEY" in capsys.readouterr().err
