"""Plate reading: CTC decoding, crops and rectification, the reader with stand-ins, and real photos (slow)."""

from __future__ import annotations

import argparse
import csv
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from vigie.errors import InvalidInputError
from vigie.pipelines.lapi.reading import (
    PlateReader,
    PlateReaderConfig,
    TextLine,
    crop_with_margin,
    decode_ctc,
    order_lines,
    rectify_quad,
    touches_edge,
)
from vigie.pipelines.lapi.syntax import ReadChar
from vigie.vision.detections import Detections

VOCAB = ["blank", "A", "B", "Q", "0", "O", "1", "2", "3", "C", "D", "-", "园", "a", " "]


def ctc(frames: list[dict[str, float]]) -> np.ndarray:
    """T×V probabilities: each frame's given mass, the rest on blank."""
    probs = np.zeros((len(frames), len(VOCAB)), np.float32)
    for t, frame in enumerate(frames):
        for char, p in frame.items():
            probs[t, VOCAB.index(char)] = p
        probs[t, 0] = max(0.0, 1.0 - sum(frame.values()))
    return probs


def test_decode_ctc_collapses_repeats_and_keeps_alternatives() -> None:
    frames = [
        {"A": 0.9},
        {"A": 0.95},
        {},
        {"A": 0.8},
        {"-": 0.9},
        {"0": 0.5, "O": 0.3, "Q": 0.15},
        {"园": 0.9},
    ]
    raw, chars = decode_ctc(ctc(frames), VOCAB)
    assert raw == "AA-0园"
    assert [c.char for c in chars] == ["A", "A", "0"]  # separator skipped, unlikely alnum junk dropped
    assert chars[0].confidence == pytest.approx(0.95, abs=1e-3)  # the peak frame of the run
    assert chars[2].alternatives["O"] == pytest.approx(0.3, abs=1e-3)
    assert chars[2].alternatives["Q"] == pytest.approx(0.15, abs=1e-3)


def test_decode_ctc_merges_lower_case_and_checks_shape() -> None:
    _, chars = decode_ctc(ctc([{"a": 0.7, "A": 0.2}]), VOCAB)
    assert len(chars) == 1 and chars[0].char == "A" and chars[0].confidence == pytest.approx(0.7, abs=1e-3)
    with pytest.raises(InvalidInputError, match="probabilities"):
        decode_ctc(np.zeros((3, 4), np.float32), VOCAB)


def test_crop_with_margin_clips_to_the_image() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    crop, origin = crop_with_margin(image, (10, 20, 110, 40), 0.1)
    assert origin == (0, 18) and crop.shape == (24, 120, 3)
    crop, origin = crop_with_margin(image, (190, 90, 199, 99), 0.5)
    assert crop.shape[0] > 0 and origin[0] + crop.shape[1] <= 200
    with pytest.raises(InvalidInputError, match="empty"):
        crop_with_margin(image, (300, 300, 310, 310), 0.0)


def test_touches_edge() -> None:
    assert touches_edge((0, 10, 50, 30), 640, 480, 2)
    assert touches_edge((100, 10, 639, 30), 640, 480, 2)
    assert not touches_edge((100, 100, 300, 150), 640, 480, 2)


def test_rectify_quad_straightens_a_tilted_line() -> None:
    image = np.zeros((200, 300, 3), np.uint8)
    quad = np.array([[50, 80], [250, 60], [252, 110], [52, 130]], np.float32)
    cv2.fillPoly(image, [quad.astype(np.int32)], (255, 255, 255))
    line = rectify_quad(image, quad)
    assert line.shape[1] > 3 * line.shape[0]  # wide and upright
    inner = line[3:-3, 3:-3]
    assert inner.mean() > 240  # the warped region is the white quadrilateral, not background


def test_order_lines_rows_then_columns() -> None:
    def line(text: str, x: float, y: float, h: float = 20) -> TextLine:
        return TextLine(text, (), h, (x, y))

    ordered = order_lines([line("CD", 150, 52), line("456", 60, 100), line("AB", 60, 50)])
    assert [ln.text for ln in ordered] == ["AB", "CD", "456"]


class FakeDetector:
    """Stands in for the plate model: returns the boxes it was given."""

    def __init__(self, boxes: list[list[float]], scores: list[float]) -> None:
        self.boxes, self.scores = boxes, scores

    def detect(self, image: np.ndarray) -> Detections:
        return Detections(
            xyxy=np.array(self.boxes, np.float32).reshape(-1, 4), confidence=np.array(self.scores)
        )


class FakeOcr:
    """Stands in for RapidOCR: one text line per crop, fixed characters."""

    def __init__(self, text: str, conf: float = 0.95) -> None:
        self.text, self.conf = text, conf

    def read_crop(self, crop: np.ndarray) -> list[TextLine]:
        chars = tuple(ReadChar(c, self.conf) for c in self.text if c.isalnum())
        return [TextLine(self.text, chars, float(crop.shape[0]), (crop.shape[1] / 2, crop.shape[0] / 2))]


def reader_with(boxes: list[list[float]], scores: list[float], text: str, **config: object) -> PlateReader:
    return PlateReader(PlateReaderConfig(**config), detector=FakeDetector(boxes, scores), ocr=FakeOcr(text))  # type: ignore[arg-type]


def test_reader_reads_normalises_and_sorts_by_score() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    reader = reader_with([[100, 100, 300, 150], [400, 300, 500, 330]], [0.5, 0.9], "F AB-I23-CD 75")
    obs = reader.read(image)
    assert [o.detection_confidence for o in obs] == pytest.approx([0.9, 0.5])
    assert obs[0].text == "AB123CD" and obs[0].format == "siv" and obs[0].display == "AB-123-CD"
    assert obs[0].raw_text == "F AB-I23-CD 75"
    assert not obs[0].cut_by_edge and 0 < obs[0].confidence < 0.95


def test_reader_flags_plates_cut_by_the_frame_edge() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    inside = reader_with([[100, 100, 300, 150]], [0.9], "AB-123-CD").read(image)[0]
    cut = reader_with([[0, 100, 150, 150]], [0.9], "AB-123-CD").read(image)[0]
    assert cut.cut_by_edge and not inside.cut_by_edge
    assert cut.confidence == pytest.approx(inside.confidence / 2, abs=1e-3)


def test_reader_no_plate_and_non_plate_text() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    assert reader_with([], [], "AB-123-CD").read(image) == []
    sign = reader_with([[100, 100, 300, 150]], [0.9], "BOULANGERIE").read(image)[0]
    assert sign.format == "unknown" and sign.text == "" and sign.confidence == 0
    low = reader_with([[100, 100, 300, 150]], [0.2], "AB-123-CD").read(image)
    assert low == []  # below min_detection_confidence


def test_reader_min_plate_confidence_turns_weak_reads_unknown() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    weak = reader_with([[100, 100, 300, 150]], [0.9], "AB-1Z3-C0", min_plate_confidence=0.8).read(image)[0]
    assert weak.format == "unknown" and weak.text == "" and weak.raw_text == "AB-1Z3-C0"


def test_reader_rejects_bad_images() -> None:
    reader = reader_with([], [], "")
    with pytest.raises(InvalidInputError, match="BGR uint8"):
        reader.read(np.zeros((10, 10), np.float32))


# --- real models on real photos ----------------------------------------------------------------------

PHOTOS = ["AK-685-FJ.jpg", "CA-188-VG.jpg", "FR-697-HF.jpg", "EM-727-PD.jpg", "6402 VH 25.jpg"]


@pytest.fixture(scope="module")
def real_reader() -> PlateReader:
    return PlateReader(PlateReaderConfig())


@pytest.mark.slow
def test_real_photos_are_read(shared_datasets: Path, real_reader: PlateReader) -> None:
    root = shared_datasets / "plates/fr-train/Images"
    for name in PHOTOS:
        obs = real_reader.read(cv2.imread(str(root / name)))
        assert obs, f"{name}: no plate found"
        best = max(obs, key=lambda o: o.confidence)
        assert best.display == Path(name).stem, f"{name}: read {best.display!r} ({best.raw_text!r})"
        assert best.format == ("fni" if name[0].isdigit() else "siv")
        assert best.confidence > 0.3


@pytest.mark.slow
def test_cli_writes_a_csv(shared_datasets: Path, tmp_path: Path) -> None:
    from vigie.pipelines.lapi.cli import add_commands

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in PHOTOS[:2]:
        shutil.copy(shared_datasets / "plates/fr-train/Images" / name, folder / name)
    (folder / "notes.txt").write_text("not an image")
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    out = tmp_path / "reads.csv"
    args = parser.parse_args(["plates", str(folder), "--out", str(out), "--no-progress"])
    assert args.func(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert {r["file_or_frame"] for r in rows} == set(PHOTOS[:2])
    assert {r["plate_text"] for r in rows} >= {"AK-685-FJ", "CA-188-VG"}
    assert all(len(r["box"].split()) == 4 for r in rows)


def test_cli_errors(tmp_path: Path) -> None:
    from vigie.errors import NotFoundError
    from vigie.pipelines.lapi.cli import add_commands

    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers())
    args = parser.parse_args(["plates", str(tmp_path / "missing.jpg"), "--out", str(tmp_path / "r.csv")])
    with pytest.raises(NotFoundError, match=r"missing\.jpg"):
        args.func(args)
    (tmp_path / "doc.pdf").write_bytes(b"%PDF")
    args = parser.parse_args(["plates", str(tmp_path / "doc.pdf"), "--out", str(tmp_path / "r.csv")])
    with pytest.raises(InvalidInputError, match="unsupported file type"):
        args.func(args)
