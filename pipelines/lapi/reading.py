"""Plate reading: detect plates, crop them with a margin, rectify the text lines, OCR, French syntax search.

Stages (each a method, testable alone):
1. `plate-yolov8n` (any `vigie.vision.detector` config) finds plate boxes; a box touching the frame edge is
   flagged `cut_by_edge` (characters may be missing, so its confidence is halved). Weak boxes (score 0.25–0.3)
   are kept only when they read as a French plate; reads come out French plates first.
2. The box is cropped with a margin and small crops are enlarged (the recogniser works at 48 px height).
3. RapidOCR's text detector (with `Det.limit_type="max"`: the shipped `min` setting enlarges a plate crop to
   736 px, finds nothing and takes ~1.3 s) returns one quadrilateral per text line; each is warped to an
   upright rectangle (deskew and perspective correction). Lines much smaller than the tallest (department
   number, regional logo, dealer text) are not main lines; two stacked lines (square plates) are read top
   first. No line found: the text detector tries again on a contrast-equalised crop. The main lines are the
   plate unless another row reads as a French plate with more confidence (a speed disc above the plate);
   a box whose read is not French is read again widened (the detector often cuts a shadowed group).
4. The recogniser's CTC output is decoded into characters with their probability and the probabilities
   of the alternatives at the same place, so the syntax search (`syntax.search_plate`) can fix `O`→`Q` from
   what the network saw rather than by a fixed swap table alone.

RapidOCR keeps per-call options (e.g. `use_det=False`) for later calls, so one instance is kept per mode:
one for text detection only, one whose recogniser is run directly on the rectified lines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from vigie.errors import InvalidInputError, ModelUnavailableError
from vigie.pipelines.lapi.syntax import (
    DEFAULT_SYNTAX,
    PlateFormat,
    PlateMatch,
    ReadChar,
    SyntaxConfig,
    clean_text,
    format_plate,
    search_plate,
)
from vigie.vision.detections import Detections
from vigie.vision.detector import Detector, UltralyticsDetectorConfig, build_detector
from vigie.vision.frame import Frame

if TYPE_CHECKING:
    from pathlib import Path

log = logging.getLogger(__name__)

_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_SEPARATOR_CHARS = set(" -·.•_:|")


class OcrSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    det_limit_side_len: int = Field(
        736, ge=64, le=2048, title="Text-detection size", description="Longest side given to RapidOCR's Det."
    )
    min_crop_height: int = Field(
        64, ge=16, le=512, title="Minimum crop height", description="Smaller plate crops are enlarged (px)."
    )
    min_line_height_ratio: float = Field(
        0.55,
        gt=0,
        le=1,
        title="Minimum line height",
        description="Text lines lower than this share of the tallest line are ignored (department, logo).",
    )
    threads: int = Field(
        2, ge=1, le=64, title="OCR threads", description="onnxruntime intra-op threads for RapidOCR."
    )


class PlateReaderConfig(BaseModel):
    """Plate detection, OCR and acceptance settings."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    detector: UltralyticsDetectorConfig = Field(
        default_factory=lambda: UltralyticsDetectorConfig(model="plate-yolov8n", conf=0.25),
        title="Plate detector",
        description="An ultralytics plate model (default plate-yolov8n from the weights manifest).",
    )
    ocr: OcrSettings = Field(default_factory=OcrSettings, title="OCR", description="RapidOCR settings.")
    min_detection_confidence: float = Field(
        0.3,
        ge=0,
        le=1,
        title="Minimum box score",
        description="Plate boxes below are weak: reported only when their read confirms them.",
    )
    weak_detection_confidence: float = Field(
        0.25,
        ge=0,
        le=1,
        title="Weak box score",
        description="Boxes from this score up to the minimum are kept only when they read as a French plate "
        "with at least `weak_min_plate_confidence` (the syntax confirms a doubtful detection).",
    )
    weak_min_plate_confidence: float = Field(
        0.5, ge=0, le=1, title="Weak box read confidence", description="See `weak_detection_confidence`."
    )
    widen_unread: float = Field(
        0.5,
        ge=0,
        le=2,
        title="Widening of unread boxes",
        description="A box whose read is not a French plate is read again widened by this share of its width "
        "on each side (the detector often cuts a group of a shadowed plate); 0 = never.",
    )
    max_plates: int = Field(4, ge=1, le=64, title="Plates per image", description="Best boxes read, at most.")
    crop_margin: float = Field(
        0.12,
        ge=0,
        le=1,
        title="Crop margin",
        description="Margin added on each side, as a share of box size.",
    )
    edge_margin_px: int = Field(
        2, ge=0, le=64, title="Edge margin", description="A box this close to the border is cut by the edge."
    )
    min_plate_confidence: float = Field(
        0.0,
        ge=0,
        le=1,
        title="Minimum read confidence",
        description="Reads below are reported as `unknown` with their raw text (0 = keep every read).",
    )


@dataclass(frozen=True, slots=True)
class PlateObservation:
    """One plate seen in one image: where, what the OCR read, and what it means."""

    box: tuple[float, float, float, float]  # xyxy, image pixels
    detection_confidence: float
    raw_text: str  # OCR text of the kept lines, as read
    text: str  # normalised plate (no separators); "" when unknown
    format: PlateFormat
    confidence: float  # confidence of `text` (0 when unknown)
    char_confidences: tuple[float, ...] = ()
    cut_by_edge: bool = False
    captured_at: datetime | None = None
    sequence: int | None = None
    chars: tuple[ReadChar, ...] = field(default=(), repr=False)  # every read character, for re-searching

    @property
    def display(self) -> str:
        return format_plate(self.text, self.format)

    @property
    def box_area(self) -> float:
        x1, y1, x2, y2 = self.box
        return max(0.0, x2 - x1) * max(0.0, y2 - y1)


@dataclass(frozen=True, slots=True)
class TextLine:
    """One rectified text line of a plate crop: its read characters and raw text.

    `main` lines are those at least `min_line_height_ratio` of the tallest; the others (department number,
    logo, dealer text, or the plate itself when a taller sign shares the box) are read too, as a fallback.
    """

    text: str
    chars: tuple[ReadChar, ...]
    height: float
    center: tuple[float, float]
    main: bool = True


# --- geometry ------------------------------------------------------------------------------------------


def crop_with_margin(
    image: np.ndarray, box: Sequence[float], margin: float
) -> tuple[np.ndarray, tuple[int, int]]:
    """The box grown by `margin` × its size on each side, clipped to the image: (crop, (x0, y0))."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    x0, y0 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    xe, ye = min(w, int(np.ceil(x2 + mx))), min(h, int(np.ceil(y2 + my)))
    if xe - x0 < 2 or ye - y0 < 2:
        raise InvalidInputError(f"plate box {tuple(box)} is empty inside a {w}×{h} image")
    return image[y0:ye, x0:xe], (x0, y0)


def touches_edge(box: Sequence[float], width: int, height: int, margin_px: int) -> bool:
    x1, y1, x2, y2 = box
    return x1 <= margin_px or y1 <= margin_px or x2 >= width - 1 - margin_px or y2 >= height - 1 - margin_px


def rectify_quad(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp a 4-point text region (clockwise from top-left) to an upright rectangle."""
    quad = np.asarray(quad, dtype=np.float32).reshape(4, 2)
    width = round(float(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3]))))
    height = round(float(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2]))))
    width, height = max(width, 4), max(height, 4)
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad, target)
    line = cv2.warpPerspective(
        image, matrix, (width, height), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
    )
    if height > 1.5 * width:  # a vertical box: the text runs top-down
        line = np.rot90(line)
    return np.ascontiguousarray(line)


# --- CTC decoding ----------------------------------------------------------------------------------------


def decode_ctc(probs: np.ndarray, vocabulary: Sequence[str], *, top_k: int = 4) -> tuple[str, list[ReadChar]]:
    """Greedy CTC decode of one line (T×V probabilities, index 0 = blank) into raw text and plate characters.

    For each emitted character, the frame where it peaks gives its probability and those of the other
    letters and digits (upper- and lower-case merged). Separators are skipped; a non-Latin glyph becomes
    its likeliest letter or digit when that has some probability, else it is dropped.
    """
    if probs.ndim != 2 or probs.shape[1] != len(vocabulary):
        raise InvalidInputError(f"CTC output: expected T×{len(vocabulary)} probabilities, got {probs.shape}")
    alnum_index = _alnum_index(tuple(vocabulary))
    best = probs.argmax(axis=1)
    raw: list[str] = []
    chars: list[ReadChar] = []
    t = 0
    while t < len(best):
        idx = int(best[t])
        end = t
        while end + 1 < len(best) and int(best[end + 1]) == idx:
            end += 1
        if idx != 0:
            peak = t + int(np.argmax(probs[t : end + 1, idx]))
            glyph = vocabulary[idx]
            raw.append(glyph)
            if glyph not in _SEPARATOR_CHARS:
                # per alphanumeric character, the best probability among its vocabulary entries
                scores = np.zeros(len(_ALNUM), dtype=np.float64)
                np.maximum.at(scores, alnum_index[:, 1], probs[peak, alnum_index[:, 0]])
                order = np.argsort(-scores)
                top = _ALNUM[order[0]]
                if glyph.upper() in _ALNUM or scores[order[0]] >= 0.1:
                    alternatives = {
                        _ALNUM[k]: round(float(scores[k]), 4)
                        for k in order[1 : top_k + 1]
                        if scores[k] >= 0.005
                    }
                    chars.append(ReadChar(top, round(float(scores[order[0]]), 4), alternatives))
        t = end + 1
    return "".join(raw), chars


_ALNUM_CACHE: dict[int, np.ndarray] = {}


def _alnum_index(vocabulary: tuple[str, ...]) -> np.ndarray:
    """(vocabulary index, alphanumeric index) for every vocabulary entry that is a Latin letter/digit."""
    key = hash(vocabulary)
    if key not in _ALNUM_CACHE:
        pairs = [
            (i, _ALNUM.index(v.upper()))
            for i, v in enumerate(vocabulary)
            if len(v) == 1 and v.upper() in _ALNUM
        ]
        _ALNUM_CACHE[key] = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    return _ALNUM_CACHE[key]


# --- OCR -------------------------------------------------------------------------------------------------


class PlateOcr:
    """RapidOCR (offline ONNX models from the wheel): text lines of a plate crop, read character-wise."""

    def __init__(self, settings: OcrSettings | None = None) -> None:
        self.settings = settings or OcrSettings()
        try:
            from rapidocr import RapidOCR
        except ImportError as exc:  # the package is a normal dependency; say so if it is missing
            raise ModelUnavailableError("rapidocr is not installed: pip install rapidocr==3.10.0") from exc
        common: dict[str, Any] = {
            "Global.log_level": "error",
            "EngineConfig.onnxruntime.intra_op_num_threads": self.settings.threads,
            "EngineConfig.onnxruntime.inter_op_num_threads": 1,
        }
        # One instance per mode (per-call options stick to an instance).
        self._detector = RapidOCR(
            params={
                **common,
                "Global.use_cls": False,
                "Global.use_rec": False,
                "Det.limit_type": "max",
                "Det.limit_side_len": self.settings.det_limit_side_len,
            }
        )
        self._reader = RapidOCR(params={**common, "Global.use_det": False, "Global.use_cls": False})
        # The recogniser object is loaded lazily by RapidOCR; its ONNX session gives the full CTC output.
        self._recogniser = self._reader._load_rec_model()
        self.vocabulary: list[str] = list(self._recogniser.postprocess_op.character)

    def text_quads(self, crop: np.ndarray) -> list[np.ndarray]:
        """4-point text regions found in the crop (possibly none)."""
        result = self._detector(crop)
        boxes = getattr(result, "boxes", None)
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(b, dtype=np.float32).reshape(4, 2) for b in boxes]

    def recognise(self, lines: Sequence[np.ndarray]) -> list[tuple[str, list[ReadChar]]]:
        """Raw text and characters of each upright line image."""
        if not lines:
            return []
        rec = self._recogniser
        _, img_h, img_w = rec.rec_image_shape
        ratio = max([img_w / img_h] + [line.shape[1] / max(1, line.shape[0]) for line in lines])
        batch = np.stack([rec.resize_norm_img(line, ratio) for line in lines]).astype(np.float32)
        probs = np.asarray(rec.session(batch))
        if probs.ndim != 3 or probs.shape[2] != len(self.vocabulary):
            raise ModelUnavailableError(
                f"RapidOCR recogniser returned shape {probs.shape}; expected (N, T, {len(self.vocabulary)})"
            )
        return [decode_ctc(p, self.vocabulary) for p in probs]

    def read_crop(self, crop: np.ndarray, *, use_text_detection: bool = True) -> list[TextLine]:
        """Every text line of the crop, top to bottom, left to right; `main` marks the plate's tall lines."""
        if crop.shape[0] < self.settings.min_crop_height:
            scale = self.settings.min_crop_height / crop.shape[0]
            crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        quads = self.text_quads(crop) if use_text_detection else []
        if use_text_detection and not quads:
            # A dark or washed-out plate: the text detector often finds its line once contrast is equalised.
            equalised = equalise(crop)
            quads = self.text_quads(equalised)
            crop = equalised if quads else crop
        if not quads:  # nothing found: read the whole crop as one line
            ((text, chars),) = self.recognise([crop])
            return [
                TextLine(text, tuple(chars), float(crop.shape[0]), (crop.shape[1] / 2, crop.shape[0] / 2))
            ]
        heights = [float(np.linalg.norm(q[0] - q[3]) + np.linalg.norm(q[1] - q[2])) / 2 for q in quads]
        tallest = max(heights)
        main = [h >= self.settings.min_line_height_ratio * tallest for h in heights]
        lines: list[TextLine] = []
        # Main and other lines are recognised in separate batches: a batch pads every line to its widest.
        for keep in (True, False):
            picked = [(q, h) for q, h, m in zip(quads, heights, main, strict=True) if m is keep]
            reads = self.recognise([rectify_quad(crop, q) for q, _ in picked])
            lines += [
                TextLine(text, tuple(chars), h, tuple(q.mean(axis=0).tolist()), keep)
                for (text, chars), (q, h) in zip(reads, picked, strict=True)
            ]
        return order_lines(lines)


def equalise(image: np.ndarray) -> np.ndarray:
    """Grey, locally contrast-equalised copy (CLAHE) of a BGR crop, as BGR."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    flat = cv2.createCLAHE(clipLimit=2.0, tileGridSize=(4, 4)).apply(grey)
    return cv2.cvtColor(flat, cv2.COLOR_GRAY2BGR)


def order_lines(lines: Sequence[TextLine]) -> list[TextLine]:
    """Rows top to bottom (centres closer than half a line height share a row), left to right within a row."""
    return [line for row in _rows(lines) for line in row]


def _rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    rows: list[list[TextLine]] = []
    for line in sorted(lines, key=lambda ln: ln.center[1]):
        if rows and abs(line.center[1] - rows[-1][0].center[1]) < 0.5 * max(line.height, rows[-1][0].height):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda ln: ln.center[0]) for row in rows]


# --- the reader --------------------------------------------------------------------------------------------


class PlateReader:
    """Detect and read every plate of an image (BGR uint8 array or `Frame`)."""

    def __init__(
        self,
        config: PlateReaderConfig | None = None,
        *,
        detector: Detector | None = None,
        ocr: PlateOcr | None = None,
        syntax: SyntaxConfig = DEFAULT_SYNTAX,
        weights_dir: Path | None = None,
    ) -> None:
        self.config = config or PlateReaderConfig()
        self.detector = detector or build_detector(self.config.detector, weights_dir=weights_dir)
        self.ocr = ocr or PlateOcr(self.config.ocr)
        self.syntax = syntax
        self.last_timings: dict[str, float] = {}

    def read(self, image: np.ndarray | Frame, detections: Detections | None = None) -> list[PlateObservation]:
        """Every plate read in the image, likeliest plates first (see `rank_observations`).

        `detections` are the plate detector's boxes when already computed (else the detector runs).
        """
        frame = image if isinstance(image, Frame) else None
        pixels = image.image if isinstance(image, Frame) else image
        if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 3:
            got = f"{type(pixels).__name__} {getattr(pixels, 'shape', '')}"
            raise InvalidInputError(f"plate reader: expected a BGR uint8 H×W×3 image or a Frame, got {got}")
        t0 = time.perf_counter()
        if detections is None:
            detections = self.detector.detect(pixels)
        floor = min(self.config.weak_detection_confidence, self.config.min_detection_confidence)
        detections = detections.above(floor)
        t1 = time.perf_counter()
        order = np.argsort(-detections.confidence)[: self.config.max_plates]
        out: list[PlateObservation] = []
        for i in order:
            score = float(detections.confidence[i])
            obs = self.read_box(
                pixels,
                detections.xyxy[i],
                score,
                captured_at=frame.captured_at if frame else None,
                sequence=frame.sequence if frame else None,
            )
            if score >= self.config.min_detection_confidence or self._confirms_weak_box(obs):
                out.append(obs)
        self.last_timings = {"detect_s": t1 - t0, "ocr_s": time.perf_counter() - t1}
        return rank_observations(out)

    def _confirms_weak_box(self, obs: PlateObservation) -> bool:
        return is_french(obs) and obs.confidence >= self.config.weak_min_plate_confidence

    def read_box(
        self,
        image: np.ndarray,
        box: Sequence[float],
        detection_confidence: float = 1.0,
        *,
        captured_at: datetime | None = None,
        sequence: int | None = None,
    ) -> PlateObservation:
        """Read one plate whose box is known (from the detector, a tracker or ground truth)."""
        height, width = image.shape[:2]
        lines, match = self._read_lines(image, box)
        if not is_french(match) and self.config.widen_unread > 0:
            wider = widen_box(box, self.config.widen_unread, width, height)
            if wider != tuple(float(v) for v in box):
                wider_lines, wider_match = self._read_lines(image, wider)
                if is_french(wider_match):  # only a French plate justifies reading past the box
                    lines, match = wider_lines, wider_match
        chars = tuple(c for line in lines for c in line.chars)
        raw = " ".join(line.text for line in lines).strip()
        cut = touches_edge(box, width, height, self.config.edge_margin_px)
        confidence = match.confidence * (0.5 if cut else 1.0)
        text, fmt = match.text, match.format
        if fmt != "unknown" and confidence < self.config.min_plate_confidence:
            text, fmt, confidence = "", "unknown", 0.0
        return PlateObservation(
            box=tuple(float(v) for v in box),  # type: ignore[arg-type]
            detection_confidence=detection_confidence,
            raw_text=raw,
            text=text,
            format=fmt,
            confidence=round(confidence, 4),
            char_confidences=match.char_confidences if fmt != "unknown" else (),
            cut_by_edge=cut,
            captured_at=captured_at,
            sequence=sequence,
            chars=chars,
        )

    def _read_lines(self, image: np.ndarray, box: Sequence[float]) -> tuple[list[TextLine], PlateMatch]:
        """The lines of the box's crop that read best as a plate, and their syntax match."""
        crop, _ = crop_with_margin(image, box, self.config.crop_margin)
        return choose_lines(self.ocr.read_crop(crop), self.syntax)


def is_french(match: PlateMatch | PlateObservation) -> bool:
    return match.format in ("siv", "fni")


def choose_lines(
    lines: Sequence[TextLine], syntax: SyntaxConfig = DEFAULT_SYNTAX
) -> tuple[list[TextLine], PlateMatch]:
    """The main (tall) lines, unless one row of lines reads as a French plate with more confidence.

    A taller text inside the plate box (a speed disc above the plate, a dealer's name on the frame) makes
    the plate's own line look small, and digits alone can pass for an FNI plate with a look-alike swap
    (`608090` → `608 Q 90`, with a low confidence): the syntax and its confidence, not the height alone,
    say which line is the plate. The main lines win ties.
    """
    main = [line for line in lines if line.main] or list(lines)
    best = (main, search_plate([c for line in main for c in line.chars], syntax))
    for row in _rows(lines):
        if row == main:
            continue
        match = search_plate([c for line in row for c in line.chars], syntax)
        if is_french(match) and (not is_french(best[1]) or match.confidence > best[1].confidence):
            best = (row, match)
    return best


def widen_box(
    box: Sequence[float], share: float, width: int, height: int
) -> tuple[float, float, float, float]:
    """The box widened by `share` of its width on the left and on the right, clipped to the image."""
    x1, y1, x2, y2 = (float(v) for v in box)
    grow = (x2 - x1) * share
    return max(0.0, x1 - grow), y1, min(float(width - 1), x2 + grow), y2


def rank_observations(observations: Sequence[PlateObservation]) -> list[PlateObservation]:
    """French plates first, then plate-like foreign text, then unknown; by read confidence, then box score.

    A speed disc or a sticker may get a higher detector score than the plate below it; what it reads as
    says which one is the plate.
    """
    rank = {"siv": 0, "fni": 0, "foreign": 1, "unknown": 2}
    return sorted(observations, key=lambda o: (rank[o.format], -o.confidence, -o.detection_confidence))


def plain_text(lines: Sequence[TextLine]) -> str:
    """All read characters of the lines, cleaned, with no syntax (the baseline)."""
    return clean_text("".join(line.text for line in lines))
