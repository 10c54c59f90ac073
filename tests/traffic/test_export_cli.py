"""`vigie export counts`: the handler, driven through its argparse parser, on a migrated SQLite file."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from vigie.cli import build_parser
from vigie.errors import ConfigError, InvalidInputError, NotFoundError
from vigie.store.db import make_engine, make_sessionmaker, upgrade
from vigie.store.models import Camera, CameraRole, Site, SiteKind
from vigie.store.upsert import upsert_count_bins

START = datetime(2026, 11, 27, 7, 0, tzinfo=UTC)  # 08:00 in Paris (CET, +01:00)
COUNTS = [3, 1, 4, 1, 5, 9, 2, 6]  # eight 15-min bins: 08:00–10:00 local


@pytest.fixture
def db_file(tmp_path: Path) -> str:
    url = f"sqlite:///{(tmp_path / 'vigie.db').as_posix()}"
    upgrade(url)
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        site = Site(slug="fecamp", name="Fécamp", kind=SiteKind.TRAFFIC, timezone="Europe/Paris")
        session.add(site)
        session.flush()
        camera = Camera(site_id=site.id, slug="north", name="Nord", role=CameraRole.TRAFFIC)
        session.add(camera)
        session.flush()
        upsert_count_bins(
            session,
            [
                dict(
                    site_id=site.id,
                    camera_id=camera.id,
                    line="main",
                    direction="towards centre",
                    class_name="car",
                    period_start=START + timedelta(minutes=15 * i),
                    period_end=START + timedelta(minutes=15 * (i + 1)),
                    count=count,
                    partial=False,
                    model_name="coco-yolov4-tiny",
                    model_version="test",
                )
                for i, count in enumerate(COUNTS)
            ],
        )
        session.commit()
    engine.dispose()
    return url


def run(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


def test_hourly_csv_to_a_file(db_file: str, tmp_path: Path) -> None:
    out = tmp_path / "counts.csv"
    argv = ["export", "counts", "--site", "fecamp", "--from", "2026-11-27", "--to", "2026-11-27"]
    assert run([*argv, "--bin", "60", "--db-url", db_file, "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [(r["period_start"], int(r["count"])) for r in rows] == [
        ("2026-11-27T08:00:00+01:00", sum(COUNTS[:4])),
        ("2026-11-27T09:00:00+01:00", sum(COUNTS[4:])),
    ]


def test_json_and_geojson_to_stdout(db_file: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["export", "counts", "--site", "fecamp", "--format", "json", "--db-url", db_file]) == 0
    assert [r["count"] for r in json.loads(capsys.readouterr().out)["counts"]] == COUNTS
    assert run(["export", "counts", "--format", "geojson", "--class", "car", "--db-url", db_file]) == 0
    (feature,) = json.loads(capsys.readouterr().out)["features"]
    assert feature["properties"]["totals_by_class"] == {"car": sum(COUNTS)}


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        (["--site", "nowhere"], NotFoundError),
        (["--site", "fecamp", "--class", "lorry"], InvalidInputError),
        (["--site", "fecamp", "--bin", "5"], InvalidInputError),
        (["--format", "wide"], InvalidInputError),  # no site
        (["--site", "fecamp", "--out", "/nonexistent-dir/x.csv"], InvalidInputError),
    ],
)
def test_bad_input_raises_domain_errors(db_file: str, extra: list[str], error: type[Exception]) -> None:
    with pytest.raises(error):
        run(["export", "counts", *extra, "--db-url", db_file])


def test_unmigrated_database_is_a_config_error(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'empty.db').as_posix()}"
    sqlalchemy.create_engine(url).dispose()
    with pytest.raises(ConfigError, match="migrated"):
        run(["export", "counts", "--site", "fecamp", "--db-url", url])
