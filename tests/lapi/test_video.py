"""The video paths on a real clip (see conftest.plate_clip): `vigie plates clip.mp4` and `vigie run lapi`."""

from __future__ import annotations

import argparse
import csv

import cv2
import pytest

from vigie.pipelines.lapi.cli import add_commands
from vigie.pipelines.lapi.syntax import clean_text


@pytest.fixture(scope="module")
def still_reads(plate_clip) -> dict[str, str]:
    """What the reader gives on each still photo (plate text of its most confident read)."""
    from vigie.pipelines.lapi.cli import _build_reader

    reader = _build_reader("cpu")
    out = {}
    for photo in plate_clip.photos:
        observations = reader.read(cv2.imread(str(photo), cv2.IMREAD_COLOR))
        out[photo.stem] = max(observations, key=lambda o: o.confidence).text if observations else ""
    return out


@pytest.mark.slow
def test_plates_cli_gives_one_row_per_car_passage(plate_clip, still_reads, tmp_path):
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    out = tmp_path / "reads.csv"
    args = parser.parse_args(["plates", str(plate_clip.path), "--out", str(out), "--no-progress"])
    assert args.func(args) == 0
    with out.open() as fh:
        rows = list(csv.DictReader(fh))
    print(rows, still_reads)
    read_right = [p for p, photo in zip(plate_clip.plates, plate_clip.photos) if still_reads[photo.stem] == p]
    assert len(read_right) >= 3  # the clip's photos were chosen as ones the reader gets right
    assert len(rows) == len(plate_clip.plates)  # one row per car passage, not per frame
    texts = [clean_text(r["plate_text"]) for r in rows]
    assert set(read_right) <= set(texts)
