"""`vigie shoreline` handler: one photo → GeoJSON; a folder → one file per photo; bad paths raise."""

from __future__ import annotations

import argparse
import json
import shutil

import pytest

from vigie.errors import NotFoundError
from vigie.pipelines.shoreline.cli import add_commands


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vigie")
    add_commands(parser.add_subparsers(dest="command"))
    return parser


def test_missing_photo_raises(tmp_path) -> None:
    args = _parser().parse_args(
        [
            "shoreline",
            str(tmp_path / "nope.jpg"),
            "--station",
            str(tmp_path),
            "--out",
            str(tmp_path / "o.geojson"),
        ]
    )
    with pytest.raises(NotFoundError, match="does not exist"):
        args.func(args)


@pytest.mark.slow
def test_folder_of_photos_writes_one_geojson_each(tmp_path, shared_datasets) -> None:
    manly = shared_datasets / "coastal" / "manly-coastsnap"
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(next(manly.glob("*.snap.*.jpg")), photos / "snap.jpg")
    out = tmp_path / "out"
    args = _parser().parse_args(
        ["shoreline", str(photos), "--station", str(manly), "--out", str(out), "--water-level", "0.22"]
    )
    assert args.func(args) == 0
    doc = json.loads((out / "snap.geojson").read_text())
    feature = doc["features"][0]
    assert feature["properties"]["status"] == "ok"
    assert feature["geometry"]["type"] == "LineString" and len(feature["geometry"]["coordinates"]) > 80
    # Without a water level the photo is flagged and the exit status says so.
    args = _parser().parse_args(
        [
            "shoreline",
            str(photos / "snap.jpg"),
            "--station",
            str(manly),
            "--out",
            str(tmp_path / "flagged.geojson"),
        ]
    )
    assert args.func(args) == 1
    assert (
        "water level"
        in json.loads((tmp_path / "flagged.geojson").read_text())["features"][0]["properties"]["reason"]
    )
