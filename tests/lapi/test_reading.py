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
    OcrSettings,
    PlateObservation,
    PlateOcr,
    PlateReader,
    PlateReaderConfig,
    TextLine,
    choose_lines,
    crop_with_margin,
    decode_ctc,
    order_lines,
    rank_observations,
    rectify_quad,
    touches_edge,
    widen_box,
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


def test_reader_keeps_a_weak_box_only_when_it_reads_as_a_french_plate() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    plate = reader_with([[100, 100, 300, 150]], [0.27], "AB-123-CD").read(image)
    assert [o.text for o in plate] == ["AB123CD"]
    assert reader_with([[100, 100, 300, 150]], [0.27], "BOULANGERIE").read(image) == []
    assert (
        reader_with([[100, 100, 300, 150]], [0.27], "AB-123-CD", weak_detection_confidence=0.3).read(image)
        == []
    )


def test_reader_ranks_plates_before_other_text_and_takes_given_detections() -> None:
    image = np.zeros((480, 640, 3), np.uint8)

    class Sign(FakeOcr):  # the top box holds a speed disc, the bottom one the plate
        def read_crop(self, crop: np.ndarray) -> list[TextLine]:
            self.text = "60 80 90" if crop.shape[0] > 60 else "FL-986-ZT"
            return super().read_crop(crop)

    reader = PlateReader(PlateReaderConfig(), detector=FakeDetector([], []), ocr=Sign(""))  # type: ignore[arg-type]
    given = Detections(
        xyxy=np.array([[100, 100, 200, 160], [100, 200, 250, 240]], np.float32), confidence=[0.8, 0.4]
    )
    obs = reader.read(image, given)  # the fake detector (no boxes) is not called
    assert [o.text for o in obs] == ["FL986ZT", "608Q90"]  # digits pass for FNI, with a low confidence
    assert obs[0].detection_confidence == pytest.approx(0.4)


class WidthOcr(FakeOcr):
    """Reads `wide` from crops at least `min_width` px wide, `narrow` from others (a box cut by shadow)."""

    def __init__(self, narrow: str, wide: str, min_width: int) -> None:
        super().__init__(narrow)
        self.narrow, self.wide, self.min_width = narrow, wide, min_width
        self.widths: list[int] = []

    def read_crop(self, crop: np.ndarray) -> list[TextLine]:
        self.widths.append(crop.shape[1])
        self.text = self.wide if crop.shape[1] >= self.min_width else self.narrow
        return super().read_crop(crop)


def test_reader_widens_a_box_whose_read_is_not_a_french_plate() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    box = [300, 100, 400, 140]
    ocr = WidthOcr("156-RR", "EL-156-RR", min_width=150)
    obs = PlateReader(PlateReaderConfig(), detector=FakeDetector([], []), ocr=ocr).read_box(image, box)  # type: ignore[arg-type]
    assert (obs.text, obs.format, obs.raw_text) == ("EL156RR", "siv", "EL-156-RR")
    assert obs.box == (300.0, 100.0, 400.0, 140.0)  # the detector's box is reported, not the widened one
    assert ocr.widths[1] > 1.8 * ocr.widths[0]
    # A widened read that is no French plate either is not taken; widening can be switched off.
    ocr = WidthOcr("156-RR", "XX EL 156", min_width=150)
    obs = PlateReader(PlateReaderConfig(), detector=FakeDetector([], []), ocr=ocr).read_box(image, box)  # type: ignore[arg-type]
    assert (obs.text, obs.format, obs.raw_text) == ("156RR", "foreign", "156-RR")
    ocr = WidthOcr("156-RR", "EL-156-RR", min_width=150)
    config = PlateReaderConfig(widen_unread=0)
    obs = PlateReader(config, detector=FakeDetector([], []), ocr=ocr).read_box(image, box)  # type: ignore[arg-type]
    assert obs.text == "156RR" and len(ocr.widths) == 1
    # A French read is never widened.
    ocr = WidthOcr("AB-123-CD", "EL-156-RR", min_width=150)
    PlateReader(PlateReaderConfig(), detector=FakeDetector([], []), ocr=ocr).read_box(image, box)  # type: ignore[arg-type]
    assert len(ocr.widths) == 1


def test_widen_box_clips_to_the_image() -> None:
    assert widen_box((100, 10, 200, 40), 0.5, 640, 480) == (50.0, 10.0, 250.0, 40.0)
    assert widen_box((10, 10, 630, 40), 0.5, 640, 480) == (0.0, 10.0, 639.0, 40.0)


def line_of(text: str, height: float, center: tuple[float, float], *, main: bool = True) -> TextLine:
    return TextLine(text, tuple(ReadChar(c, 0.99) for c in text if c.isalnum()), height, center, main)


def test_choose_lines_prefers_the_line_that_reads_as_a_plate() -> None:
    # A speed disc above the plate in the same box: its digits are the tallest text.
    disc = line_of("60 80 90", 58, (95, 35))
    plate = line_of("FL-986-ZT", 18, (102, 67), main=False)
    lines, match = choose_lines([disc, plate])
    assert lines == [plate] and match.text == "FL986ZT"
    # When the tall lines read as a plate, a smaller French-looking text (a dealer frame) is ignored.
    main = line_of("AB-123-CD", 50, (100, 40))
    dealer = line_of("EF-456-GH", 12, (100, 80), main=False)
    lines, match = choose_lines([main, dealer])
    assert lines == [main] and match.text == "AB123CD"
    # Nothing French anywhere: the tall lines, as before.
    lines, match = choose_lines(
        [line_of("GARAGE", 50, (100, 40)), line_of("MARTIN", 12, (100, 80), main=False)]
    )
    assert [ln.text for ln in lines] == ["GARAGE"] and match.format == "unknown"


def test_rank_observations_puts_french_plates_first() -> None:
    def obs(text: str, fmt: str, conf: float, score: float) -> PlateObservation:
        return PlateObservation((0, 0, 1, 1), score, text, text, fmt, conf)  # type: ignore[arg-type]

    ranked = rank_observations(
        [obs("", "unknown", 0, 0.9), obs("AB12CD34", "foreign", 0.9, 0.8), obs("AB123CD", "siv", 0.7, 0.3),
         obs("EF456GH", "siv", 0.95, 0.3)]
    )  # fmt: skip
    assert [o.text for o in ranked] == ["EF456GH", "AB123CD", "AB12CD34", ""]


class StubPlateOcr(PlateOcr):
    """`PlateOcr.read_crop` without RapidOCR: text regions found only on an equalised (grey) crop."""

    def __init__(self, quads: list[np.ndarray], *, grey_only: bool) -> None:
        self.settings = OcrSettings()
        self.quads, self.grey_only = quads, grey_only
        self.detect_calls, self.batches = 0, []  # type: ignore[var-annotated]

    def text_quads(self, crop: np.ndarray) -> list[np.ndarray]:
        self.detect_calls += 1
        grey = bool((crop[..., 0] == crop[..., 1]).all() and (crop[..., 1] == crop[..., 2]).all())
        return self.quads if grey or not self.grey_only else []

    def recognise(self, lines: list[np.ndarray]) -> list[tuple[str, list[ReadChar]]]:  # type: ignore[override]
        self.batches.append(len(lines))
        return [("AB-123-CD", [ReadChar(c, 0.99) for c in "AB123CD"]) for _ in lines]


def quad(x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float32)


def test_read_crop_retries_text_detection_on_an_equalised_crop() -> None:
    crop = np.zeros((80, 300, 3), np.uint8)
    crop[..., 2] = 40  # dark, tinted: not grey
    ocr = StubPlateOcr([quad(20, 20, 280, 60)], grey_only=True)
    lines = ocr.read_crop(crop)
    assert ocr.detect_calls == 2 and len(lines) == 1 and lines[0].height == pytest.approx(40)
    # Nothing found either way: the whole crop is read as one line.
    ocr = StubPlateOcr([], grey_only=True)
    lines = ocr.read_crop(crop)
    assert ocr.detect_calls == 2 and len(lines) == 1 and lines[0].height == 80


def test_read_crop_marks_small_lines_and_reads_them_apart() -> None:
    crop = np.full((100, 300, 3), 128, np.uint8)
    ocr = StubPlateOcr([quad(20, 20, 240, 70), quad(250, 40, 280, 60)], grey_only=False)
    lines = ocr.read_crop(crop)
    assert [ln.main for ln in lines] == [True, False]  # the department number is not a main line
    assert ocr.batches == [1, 1] and ocr.detect_calls == 1


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
