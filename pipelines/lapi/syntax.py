"""French licence-plate syntax: validation, formatting and a syntax-aware search over OCR characters.

Formats recognised:
- SIV (since 2009): `AA-123-AA`. Letters exclude I, O and U; the pair SS is never issued (either group);
  the digit group is 001–999; `WW` in the left group marks a temporary registration (valid, flagged).
- SIV W garage: `W-123-AB` — the number of a "certificat W garage", issued by the SIV to motor-trade
  professionals (dealers, repairers) for vehicles not yet registered; the plates move from car to car. One
  `W`, digits 001–999, two SIV letters. Kept as format `siv` (it is an SIV number; the database enum has
  no other value), told apart by `siv_series` ("w_garage") and flagged `temporary` like `WW`. The old
  FNI garage form `1234 W 56` is an ordinary FNI shape.
- FNI (1950–2009): 1–4 digits, 1–3 letters, then the department: `01`–`95` (no `20` after 1976: Corsica
  is `2A`/`2B`) or `971`–`976` overseas; e.g. `123 ABC 45`, `1234 AB 56`, `12 AB 2A`. Letters I and O are
  excluded (confusable with 1 and 0).

OCR on French plates mostly adds characters (the euro band's `F`, the department number and regional logo
on the right) and confuses look-alike glyphs (0/O/Q/D, 1/I, 8/B, 5/S, 2/Z, 6/G). `search_plate` aligns the
read characters with every French template: characters may be dropped (cheaply at the edges: the euro band
on the left, the SIV department band on the right, nothing after an FNI department; in the middle, at a cost
that grows with the OCR's confidence in the character), each template position takes exactly one read
character, and a character outside the position's class is replaced only by one of its OCR alternatives or
a known look-alike, at a cost. No character is ever invented. The best French reading wins only when it is
clearly better than the others; otherwise the text is reported as `foreign` (plate-like) or `unknown`, never
forced into a French plate.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Literal

PlateFormat = Literal["siv", "fni", "foreign", "unknown"]
SivSeries = Literal["standard", "ww", "w_garage"]
FORMATS: tuple[PlateFormat, ...] = ("siv", "fni", "foreign", "unknown")

DIGITS = frozenset("0123456789")
SIV_LETTERS = frozenset("ABCDEFGHJKLMNPQRSTVWXYZ")  # no I, O, U
FNI_LETTERS = frozenset("ABCDEFGHJKLMNPQRSTUVWXYZ")  # no I, O
CORSICA = ("2A", "2B")
EURO_BAND_READS = frozenset("FE")  # how the OCR reads the blue band's country code, when it reads it

# Look-alike glyphs an OCR confuses on plates, both ways, with how often the swap is the right fix
# (the weight scales the read's confidence). Strong pairs are the classic plate confusions.
_STRONG, _WEAK = 0.5, 0.2
_LOOKALIKE_PAIRS = (
    ("0", "O", _STRONG), ("0", "Q", _STRONG), ("O", "Q", _STRONG), ("0", "D", 0.3), ("O", "D", _WEAK),
    ("1", "I", _STRONG), ("8", "B", _STRONG), ("5", "S", _STRONG), ("2", "Z", _STRONG), ("6", "G", _STRONG),
    ("O", "C", _WEAK), ("O", "G", _WEAK), ("1", "L", _WEAK), ("1", "T", _WEAK), ("1", "J", _WEAK),
    ("7", "T", _WEAK), ("7", "Z", _WEAK), ("4", "A", _WEAK), ("3", "B", _WEAK), ("9", "G", _WEAK),
    ("M", "N", _WEAK), ("M", "H", _WEAK), ("W", "V", _WEAK), ("U", "V", _STRONG), ("V", "Y", _WEAK),
    ("K", "X", _WEAK), ("P", "R", _WEAK), ("E", "F", _WEAK), ("Q", "D", _WEAK),
)  # fmt: skip
LOOKALIKES: dict[str, dict[str, float]] = {}
for _a, _b, _w in _LOOKALIKE_PAIRS:
    LOOKALIKES.setdefault(_a, {})[_b] = _w
    LOOKALIKES.setdefault(_b, {})[_a] = _w

_SEPARATORS = re.compile(r"[\s\-·.•_:]+")


@dataclass(frozen=True, slots=True)
class ReadChar:
    """One character as the OCR read it: its confidence and the probabilities of other candidates."""

    char: str
    confidence: float
    alternatives: Mapping[str, float] = field(default_factory=dict)

    def probability(self, candidate: str, lookalike_scale: float = 1.0) -> float:
        """How likely the glyph is `candidate`: the OCR's own figure, else a discounted look-alike."""
        if candidate == self.char:
            return self.confidence
        p = float(self.alternatives.get(candidate, 0.0))
        weight = LOOKALIKES.get(self.char, {}).get(candidate)
        if weight is not None:
            p = max(p, self.confidence * weight * lookalike_scale)
        return p


@dataclass(frozen=True, slots=True)
class SyntaxConfig:
    """Costs of the search (negative log-probabilities) and acceptance thresholds."""

    lookalike_scale: float = 1.0  # multiplies the look-alike weights (lower = fewer swaps)
    edge_drop_cost: float = 0.05  # an expected extra character: euro band (left), department (right)
    extra_drop_cost: float = 0.8  # any further character dropped at an edge
    left_free_drops: int = 1  # the euro band's F (or what the OCR makes of the blue band)
    right_free_drops: int = 3  # department number (2–3 digits) and a glyph of the regional logo
    fni_right_free_drops: int = 0  # an FNI plate ends with its department: nothing follows it
    middle_drop_cost: float = 2.5  # per character dropped between matched ones (rarely legitimate)
    min_middle_drop_cost: float = 0.8  # a faint character between groups (a dash read as a glyph)
    max_corrected: int = 2  # a reading needing more swaps than this is not a French plate
    min_french_confidence: float = 0.5  # below, a doubtful French reading of a plate-like string is `foreign`
    min_french_coverage: float = 0.65  # a French reading explaining less of the read characters is doubtful
    fni_prior_cost: float = 0.7  # FNI plates are far rarer than SIV on today's roads
    w_garage_prior_cost: float = 0.7  # W garage plates too (dealers' cars only)
    short_fni_cost: float = 0.4  # per missing FNI character below 4 digits + 3 letters (short series)
    min_char_probability: float = 0.02  # below, a position cannot take that character at all
    min_foreign_length: int = 5
    max_foreign_length: int = 10
    min_foreign_confidence: float = 0.6


DEFAULT_SYNTAX = SyntaxConfig()


@dataclass(frozen=True, slots=True)
class PlateMatch:
    """The outcome of a syntax search: normalised text (no separators) and honest confidences."""

    text: str
    format: PlateFormat
    confidence: float
    char_confidences: tuple[float, ...] = ()
    dropped: int = 0  # read characters left out (department number, euro band, noise)
    corrected: int = 0  # positions where a look-alike or OCR alternative replaced the read character
    temporary: bool = False  # SIV `WW` series or W garage: a provisional number

    @property
    def display(self) -> str:
        return format_plate(self.text, self.format)

    @property
    def series(self) -> SivSeries | None:
        return siv_series(self.text) if self.format == "siv" else None


# --- validation --------------------------------------------------------------------------------------


def clean_text(raw: str) -> str:
    """Upper-case alphanumerics only (separators and punctuation removed)."""
    return "".join(c for c in _SEPARATORS.sub("", raw.upper()) if c.isascii() and c.isalnum())


_SIV_RE = re.compile(r"^([A-Z]{2})(\d{3})([A-Z]{2})$")
_W_GARAGE_RE = re.compile(r"^(W)(\d{3})([A-Z]{2})$")
_FNI_RE = re.compile(r"^(\d{1,4})([A-Z]{1,3})(\d{2}|2A|2B|97[1-6])$")


def _valid_department(dept: str) -> bool:
    if dept in CORSICA or (len(dept) == 3 and "971" <= dept <= "976"):
        return True
    return len(dept) == 2 and dept.isdigit() and 1 <= int(dept) <= 95 and dept != "20"


def plate_format(text: str) -> PlateFormat | None:
    """`siv` or `fni` when `text` (separators allowed) is a valid French plate, else None."""
    text = clean_text(text)
    m = _SIV_RE.match(text) or _W_GARAGE_RE.match(text)
    if m:
        left, digits, right = m.groups()
        letters_ok = set(left + right) <= SIV_LETTERS
        if letters_ok and "SS" not in (left, right) and digits != "000":
            return "siv"
        return None
    m = _FNI_RE.match(text)
    if m:
        digits, letters, dept = m.groups()
        if set(letters) <= FNI_LETTERS and int(digits) > 0 and _valid_department(dept):
            return "fni"
    return None


def siv_series(text: str) -> SivSeries | None:
    """`standard`, `ww` (temporary) or `w_garage` for a valid SIV number, else None."""
    if plate_format(text) != "siv":
        return None
    text = clean_text(text)
    if len(text) == 6:
        return "w_garage"
    return "ww" if text.startswith("WW") else "standard"


def is_temporary(text: str) -> bool:
    """A provisional number: SIV `WW-123-AB` or W garage `W-123-AB`."""
    return siv_series(text) in ("ww", "w_garage")


def format_plate(text: str, fmt: PlateFormat) -> str:
    """Human form: `AB-123-CD` (SIV), `123 ABC 45` (FNI); other formats as given."""
    text = clean_text(text) if fmt in ("siv", "fni") else text
    if fmt == "siv" and len(text) == 7:
        return f"{text[:2]}-{text[2:5]}-{text[5:]}"
    if fmt == "siv" and len(text) == 6:
        return f"{text[:1]}-{text[1:4]}-{text[4:]}"
    if fmt == "fni":
        m = _FNI_RE.match(text)
        if m:
            return " ".join(m.groups())
    return text


# --- templates ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Template:
    format: PlateFormat
    classes: tuple[frozenset[str], ...]
    prior_cost: float


@cache
def _templates(config: SyntaxConfig) -> tuple[_Template, ...]:
    d, siv, fni = DIGITS, SIV_LETTERS, FNI_LETTERS
    out = [
        _Template("siv", (siv, siv, d, d, d, siv, siv), 0.0),
        _Template("siv", (frozenset("W"), d, d, d, siv, siv), config.w_garage_prior_cost),
    ]
    departments = [
        (d, d),
        (frozenset("2"), frozenset("AB")),
        (frozenset("9"), frozenset("7"), frozenset("123456")),
    ]
    for n_digits in range(1, 5):
        for n_letters in range(1, 4):
            short = (4 - n_digits) + (3 - n_letters)
            for dept in departments:
                classes = (d,) * n_digits + (fni,) * n_letters + dept
                out.append(_Template("fni", classes, config.fni_prior_cost + config.short_fni_cost * short))
    return tuple(out)


# --- search ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    text: str
    format: PlateFormat
    cost: float
    char_probs: tuple[float, ...]
    dropped: int
    corrected: int
    excess_drop_cost: float


def _best_in_class(rc: ReadChar, allowed: frozenset[str], config: SyntaxConfig) -> tuple[str, float, float]:
    """The likeliest allowed character, its probability, and its share among the allowed candidates.

    The OCR's probability mass on characters the position does not allow (an `O` in a digit position) is
    passed on to their look-alikes, weighted: `0` 0.51, `O` 0.30, `Q` 0.17 in a letter position give `Q`.
    """
    read = {rc.char: rc.confidence, **{c: float(p) for c, p in rc.alternatives.items() if c != rc.char}}
    scores: dict[str, float] = {c: p for c, p in read.items() if c in allowed}
    for char, p in read.items():
        if char in allowed:
            continue
        for twin, weight in LOOKALIKES.get(char, {}).items():
            if twin in allowed:
                scores[twin] = scores.get(twin, 0.0) + p * weight * config.lookalike_scale
    if not scores:
        return "", 0.0, 0.0
    best = max(sorted(scores), key=scores.__getitem__)
    p_best = min(1.0, scores[best])
    return best, p_best, scores[best] / sum(scores.values())


def _drop_cost(
    i: int, n: int, j: int, m: int, *, read: ReadChar, right_free: int, config: SyntaxConfig
) -> tuple[float, float]:
    """(cost, excess) of dropping read character i when j of m positions are filled; excess = unusual part.

    The free left drop is the euro band (stars and `F`): the OCR makes a letter or a faint glyph of it,
    never a clear digit. A character dropped between matched ones costs in proportion to how sure the OCR
    was of it: a faint glyph between two groups is most often the separator dash read as a character, a
    clear one is a real character that the reading would be throwing away.
    """
    if j == 0:
        band = i < config.left_free_drops and not (read.char in DIGITS and read.confidence >= 0.5)
        cost = config.edge_drop_cost if band else config.extra_drop_cost
    elif j == m:
        cost = config.edge_drop_cost if n - 1 - i < right_free else config.extra_drop_cost
    else:
        cost = max(config.min_middle_drop_cost, config.middle_drop_cost * read.confidence)
    return cost, max(0.0, cost - config.edge_drop_cost)


def _align(chars: Sequence[ReadChar], template: _Template, config: SyntaxConfig) -> _Candidate | None:
    """Best monotone alignment of read characters to the template's positions (dynamic programming).

    State (i, j): i read characters consumed, j template positions filled. A character is matched to the
    next position or dropped; drops before the first match and after the last one are edge drops.
    """
    n, m = len(chars), len(template.classes)
    if n < m:
        return None
    inf = math.inf
    # cost[i][j], back[i][j] = ("drop" | "match", char, prob)
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[str, str, float] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    options = [[_best_in_class(rc, cls, config) for cls in template.classes] for rc in chars]
    right_free = config.fni_right_free_drops if template.format == "fni" else config.right_free_drops
    for i in range(n):
        for j in range(m + 1):
            base = cost[i][j]
            if base == inf:
                continue
            drop, excess = _drop_cost(i, n, j, m, read=chars[i], right_free=right_free, config=config)
            if base + drop < cost[i + 1][j]:
                cost[i + 1][j] = base + drop
                back[i + 1][j] = ("drop", "", excess)
            if j < m:
                char, p, share = options[i][j]
                if p >= config.min_char_probability:
                    c = base - math.log(p)
                    if c < cost[i + 1][j + 1]:
                        cost[i + 1][j + 1] = c
                        back[i + 1][j + 1] = ("match", char, p * share)
    if cost[n][m] == inf:
        return None
    text, probs, dropped, corrected, excess = [], [], 0, 0, 0.0
    i, j = n, m
    while i > 0:
        step = back[i][j]
        assert step is not None
        kind, char, value = step
        if kind == "match":
            text.append(char)
            probs.append(value)
            corrected += char != chars[i - 1].char
            j -= 1
        else:
            dropped += 1
            excess += value
        i -= 1
    plate = "".join(reversed(text))
    if plate_format(plate) != template.format or corrected > config.max_corrected:
        return None  # SS / 000 / department 00, or too many swaps to be a reading of this plate
    return _Candidate(
        plate,
        template.format,
        cost[n][m] + template.prior_cost,
        tuple(reversed(probs)),
        dropped,
        corrected,
        excess,
    )


def chars_from_text(raw: str, confidence: float = 1.0) -> list[ReadChar]:
    """Read characters from a plain OCR string (no alternatives): one confidence for every character."""
    return [ReadChar(c, confidence) for c in clean_text(raw)]


def search_plate(chars: Sequence[ReadChar] | str, config: SyntaxConfig = DEFAULT_SYNTAX) -> PlateMatch:
    """The most plausible French plate in the read characters, or `foreign` / `unknown`.

    Confidence of a French match = (lowest per-character probability, itself scaled by that character's
    share among the candidates its position allows) × (share of the best reading among the competing French
    readings, softmax of their costs) × exp(−cost of unusual drops): a plate that could as well be another,
    or that needed readable characters thrown away, is not reported as certain. Readings that only drop
    more edge characters of the best one (a sub-string of it) do not compete, except one that reads the
    best one's first character as the euro band (`FW-178-JZ` or band + W garage `W-178-JZ`).
    """
    if isinstance(chars, str):
        chars = chars_from_text(chars)
    chars = [rc for rc in chars if rc.char.isascii() and rc.char.isalnum()]
    chars = [ReadChar(rc.char.upper(), rc.confidence, rc.alternatives) for rc in chars]
    best_by_text: dict[str, _Candidate] = {}
    for template in _templates(config):
        cand = _align(chars, template, config)
        if cand is not None and (cand.text not in best_by_text or cand.cost < best_by_text[cand.text].cost):
            best_by_text[cand.text] = cand
    if best_by_text:
        ranked = sorted(best_by_text.values(), key=lambda c: c.cost)
        best = ranked[0]
        rivals = [c for c in ranked if c is best or c.text not in best.text or _band_read(best.text, c.text)]
        share = 1.0 / sum(math.exp(best.cost - c.cost) for c in rivals)
        conf = min(best.char_probs) * share * math.exp(-best.excess_drop_cost)
        foreign = _not_french(chars, config)
        coverage = len(best.text) / len(chars)  # share of the read characters the French reading explains
        doubtful = best.excess_drop_cost > 0 or coverage < config.min_french_coverage
        if doubtful and conf < config.min_french_confidence and foreign.format == "foreign":
            return foreign
        return PlateMatch(
            text=best.text,
            format=best.format,
            confidence=round(conf, 4),
            char_confidences=tuple(round(p, 4) for p in best.char_probs),
            dropped=best.dropped,
            corrected=best.corrected,
            temporary=is_temporary(best.text),
        )
    return _not_french(chars, config)


def _band_read(best: str, rival: str) -> bool:
    """`rival` is `best` without a first character that may be the euro band's `F` (read F or E)."""
    return best[:1] in EURO_BAND_READS and rival == best[1:]


def _not_french(chars: Sequence[ReadChar], config: SyntaxConfig) -> PlateMatch:
    """A plate-like string (letters and ≥ 2 digits, plausible length) is `foreign`, else `unknown`."""
    text = "".join(rc.char for rc in chars)
    probs = tuple(round(rc.confidence, 4) for rc in chars)
    digits = sum(c.isdigit() for c in text)
    letters = sum(c.isalpha() for c in text)
    plate_like = (
        config.min_foreign_length <= len(text) <= config.max_foreign_length and digits >= 2 and letters >= 1
    )
    if plate_like and min(probs) >= config.min_foreign_confidence:
        return PlateMatch(text, "foreign", round(min(probs), 4), probs)
    return PlateMatch("", "unknown", 0.0, ())
