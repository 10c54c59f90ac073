"""French plate syntax: validation, formatting, and the syntax-aware search over OCR characters."""

from __future__ import annotations

import pytest

from vigie.pipelines.lapi.syntax import (
    ReadChar,
    SyntaxConfig,
    clean_text,
    format_plate,
    is_temporary,
    plate_format,
    search_plate,
    siv_series,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("AB-123-CD", "siv"),
        ("ab 123 cd", "siv"),
        ("WW-123-AB", "siv"),  # temporary series
        ("AB-123-SS", None),  # SS never issued
        ("SS-123-AB", None),
        ("AB-000-CD", None),  # digit group starts at 001
        ("AI-123-CD", None),  # I, O, U excluded
        ("AB-123-OD", None),
        ("UB-123-CD", None),
        ("AB-1234-CD", None),
        ("W-123-AB", "siv"),  # W garage (certificat W garage, SIV number)
        ("w 123 ab", "siv"),
        ("W-000-AB", None),
        ("W-123-SS", None),
        ("W-123-AI", None),
        ("V-123-AB", None),  # only W has a one-letter left group
        ("W-12-AB", None),
        ("1234 W 56", "fni"),  # the older FNI garage form
        ("123 ABC 45", "fni"),
        ("1234 AB 56", "fni"),
        ("1 A 01", "fni"),
        ("12 AB 2A", "fni"),  # Corsica
        ("345 BC 2B", "fni"),
        ("123 AB 20", None),  # no department 20 since 1976
        ("123 AB 00", None),
        ("123 AB 96", None),
        ("123 AB 974", "fni"),  # Réunion
        ("123 AB 977", None),
        ("12345 AB 75", None),
        ("123 ABCD 75", None),
        ("0 AB 75", None),
        ("MH14CS1938", None),
    ],
)
def test_plate_format(text: str, expected: str | None) -> None:
    assert plate_format(text) == expected


def test_format_and_clean() -> None:
    assert clean_text("ab-123·cd ") == "AB123CD"
    assert format_plate("AB123CD", "siv") == "AB-123-CD"
    assert format_plate("123ABC45", "fni") == "123 ABC 45"
    assert format_plate("12AB2A", "fni") == "12 AB 2A"
    assert is_temporary("WW-123-AB") and not is_temporary("AB-123-WW")


@pytest.mark.parametrize(
    ("read", "plate", "fmt"),
    [
        ("AB-123-CD", "AB123CD", "siv"),
        ("F AB-123-CD", "AB123CD", "siv"),  # euro band F
        ("BAB-123-CD", "AB123CD", "siv"),  # the blue band read as B
        ("AB-123-CD 75", "AB123CD", "siv"),  # department number
        ("FAB-123-CD-974", "AB123CD", "siv"),
        ("AB-I23-CD", "AB123CD", "siv"),  # I -> 1 in a digit position
        ("AB-1Z3-CD", "AB123CD", "siv"),  # Z -> 2
        ("A8-123-CD", "AB123CD", "siv"),  # 8 -> B in a letter position
        ("AB-123-C0", "AB123CQ", "siv"),  # 0 in a letter position: Q is the usual misread
        ("5T-123-CD", "ST123CD", "siv"),
        ("AB-123-6H", "AB123GH", "siv"),
        ("6402 VH 25", "6402VH25", "fni"),
        ("123 ABC 2A", "123ABC2A", "fni"),
        ("123 A8C 45", "123ABC45", "fni"),
    ],
)
def test_search_fixes_extra_characters_and_confusions(read: str, plate: str, fmt: str) -> None:
    match = search_plate(read)
    assert (match.text, match.format) == (plate, fmt)
    assert 0 < match.confidence <= 1
    assert len(match.char_confidences) == len(plate)


def test_corrections_lower_confidence() -> None:
    clean = search_plate("AB-123-CD")
    fixed = search_plate("AB-I23-CD")
    assert clean.corrected == 0 and fixed.corrected == 1
    assert fixed.confidence < clean.confidence
    assert fixed.char_confidences[2] < 1.0


def test_extra_edge_characters_are_dropped_and_counted() -> None:
    match = search_plate("F AB-123-CD 75")
    assert match.dropped == 3 and match.display == "AB-123-CD"


def test_ocr_alternatives_decide_between_lookalikes() -> None:
    # The OCR read 0 at a letter position but saw some Q there: Q wins over D.
    chars = [ReadChar(c, 0.99) for c in "DK752"] + [
        ReadChar("0", 0.51, {"O": 0.30, "Q": 0.17}),
        ReadChar("M", 0.92, {"H": 0.04}),
    ]
    match = search_plate(chars)
    assert match.text == "DK752QM"
    assert match.char_confidences[5] < 0.6  # an uncertain character stays uncertain
    # The same read with D among the alternatives instead gives D.
    chars[5] = ReadChar("0", 0.51, {"D": 0.45})
    assert search_plate(chars).text == "DK752DM"


@pytest.mark.parametrize("read", ["BOULANGERIE", "PHARMACIE", "SORTIE", "", "AB", "----"])
def test_text_that_is_not_a_plate_is_unknown(read: str) -> None:
    match = search_plate(read)
    assert match.format == "unknown" and match.text == "" and match.confidence == 0


@pytest.mark.parametrize(
    ("read", "text"),
    [("MH14CS1938", "MH14CS1938"), ("M-AB 1234", "MAB1234"), ("AB12 CDE", "AB12CDE"), ("AB000CD", "AB000CD")],
)
def test_foreign_plates_keep_the_raw_text(read: str, text: str) -> None:
    match = search_plate(read)
    assert match.format == "foreign" and match.text == text


def test_a_forbidden_plate_is_never_produced() -> None:
    for read in ["SS-123-AB", "AB-123-SS", "AB-000-CD"]:
        match = search_plate(read)
        assert plate_format(match.text) != "siv" or match.text != clean_text(read)


def test_low_confidence_characters_give_low_plate_confidence() -> None:
    chars = [ReadChar(c, 0.99) for c in "AB12"] + [ReadChar("3", 0.3)] + [ReadChar(c, 0.99) for c in "CD"]
    match = search_plate(chars)
    assert match.text == "AB123CD"
    assert match.confidence <= 0.3


def test_ambiguous_siv_or_fni_is_not_certain() -> None:
    # Two stacked lines read as one string: SIV EM-727-PD (department 31 dropped) or FNI 727 PD 31.
    match = search_plate("EM727PD31")
    assert match.text == "EM727PD" and match.format == "siv"
    assert match.confidence < 0.95


@pytest.mark.parametrize(
    ("text", "series"),
    [("AB-123-CD", "standard"), ("WW-123-AB", "ww"), ("W-123-AB", "w_garage"), ("AW-123-BC", "standard"),
     ("1234 W 56", None), ("W-000-AB", None)],
)  # fmt: skip
def test_siv_series(text: str, series: str | None) -> None:
    assert siv_series(text) == series
    assert is_temporary(text) == (series in ("ww", "w_garage"))


@pytest.mark.parametrize(
    "read",
    ["W-178-JZ", "W178JZ", "W-178-JZ 17", "W-I78-JZ"],  # department, I in a digit position
)
def test_w_garage_is_read_as_such(read: str) -> None:
    match = search_plate(read)
    assert (match.text, match.format, match.series) == ("W178JZ", "siv", "w_garage")
    assert match.temporary and match.display == "W-178-JZ"


def test_w_garage_is_not_forced_into_fni() -> None:
    # Was FNI `3 Q 41`-like before W garage plates were known: the W and the letters were thrown away.
    assert search_plate("W304JF").display == "W-304-JF"


def test_euro_band_before_a_w_is_ambiguous() -> None:
    # `FW178JZ`: SIV FW-178-JZ, or the euro band's F before W garage W-178-JZ: not certain either way.
    match = search_plate("FW178JZ")
    assert match.format == "siv" and match.confidence < 0.8
    # Any other first letter is not a band read: a standard SIV plate with W second stays certain.
    assert search_plate("AW123BC").confidence > 0.95


def test_w_garage_with_an_uncertain_w() -> None:
    # The reader's characters for photo W-178-JZ: the band read E, the W read N (W second, 0.28).
    chars = [
        ReadChar("E", 0.26, {"P": 0.08, "A": 0.08, "B": 0.08}),
        ReadChar("N", 0.39, {"W": 0.28, "H": 0.08, "M": 0.04}),
        *[ReadChar(c, 0.97) for c in "178JZ"],
    ]
    match = search_plate(chars)
    assert match.text == "W178JZ"
    assert match.confidence < 0.5  # a W read as N second is a guess, reported as one


def test_an_fni_plate_ends_with_its_department() -> None:
    # The reader's characters for photo `9148 SZ 66` (5 and 2 for S and Z): nothing follows an FNI
    # department, so the reading keeps the trailing 66 rather than dropping a 6 as SIV band digits.
    chars = [
        ReadChar("9", 0.99),
        ReadChar("1", 0.94, {"7": 0.04}),
        ReadChar("4", 0.99),
        ReadChar("8", 0.99),
        ReadChar("5", 0.90, {"S": 0.06}),
        ReadChar("2", 0.89, {"Z": 0.04}),
        ReadChar("6", 0.82, {"5": 0.15}),
        ReadChar("6", 0.89, {"8": 0.08}),
    ]
    assert search_plate(chars).display == "9148 SZ 66"
    # With the SIV allowance of free trailing characters, the shorter FNI reading wins (the old error).
    assert search_plate(chars, SyntaxConfig(fni_right_free_drops=3)).display == "9148 S 26"
    # A clear character after a complete FNI plate is not thrown away for free: the text is not French.
    assert search_plate("123ABC45").format == "fni"
    assert search_plate("123ABC456").format == "foreign"


def test_the_euro_band_is_not_a_clear_digit() -> None:
    band = search_plate([ReadChar("E", 0.9), *(ReadChar(c, 0.99) for c in "AB123CD")])
    assert (band.text, band.format) == ("AB123CD", "siv") and band.confidence > 0.9
    # A clear digit before the plate is unexplained: the text is reported as read, not as a French plate.
    digit = search_plate([ReadChar("7", 0.9), *(ReadChar(c, 0.99) for c in "AB123CD")])
    assert (digit.text, digit.format) == ("7AB123CD", "foreign")
    # A faint one may be the band (or a bolt): the plate is read.
    faint = search_plate([ReadChar("7", 0.3), *(ReadChar(c, 0.99) for c in "AB123CD")])
    assert (faint.text, faint.format) == ("AB123CD", "siv")


def test_a_faint_character_between_groups_is_dropped() -> None:
    # Photo EY-728-WJ: the dash between Y and 7 read as a faint 6.
    def read(dash_confidence: float) -> list[ReadChar]:
        return [
            ReadChar("E", 0.93),
            ReadChar("Y", 0.77),
            ReadChar("6", dash_confidence, {"5": 0.15}),
            *(ReadChar(c, 0.95) for c in "728WJ"),
        ]

    assert search_plate(read(0.3)).text == "EY728WJ"
    # The old flat cost of a middle drop made the band E and a 6-for-G reading cheaper.
    assert search_plate(read(0.3), SyntaxConfig(min_middle_drop_cost=2.5)).text != "EY728WJ"
    # A character read clearly is a real character: it is not dropped from the middle of a plate.
    assert search_plate(read(0.99)).text != "EY728WJ"
