"""Plate text as people type it (API, subscriber files) and as it is stored: keyed hash, optional clear text.

A plate is identified everywhere by HMAC-SHA256 of its compact form (upper-case letters and digits only),
keyed by a key derived from `settings.secret_key`: the same plate gives the same hash at every camera, in
the subscriber list and in API look-ups, while a leaked database does not reveal plates. The derived key
keeps plate hashes unrelated to API-token hashes made with the same secret.

Input validation here is strict on purpose (a person typed it): OCR output goes through the reader's own
syntax-aware correction (`vigie.pipelines.lapi.syntax`) before it reaches `hash_plate`.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

from pydantic import SecretStr

from vigie.errors import InvalidInputError
from vigie.pipelines.lapi.syntax import clean_text, format_plate, plate_format
from vigie.store.models import PlateFormat

_SIV_SHAPE = re.compile(r"^[A-Z]{2}\d{3}[A-Z]{2}$")
_COMPACT = re.compile(r"^[A-Z0-9]{2,10}$")
_HASH_CONTEXT = b"vigie/plate-hash/v1"


@dataclass(frozen=True, slots=True)
class NormalisedPlate:
    compact: str  # AB123CD: what is hashed
    display: str  # AB-123-CD: what is shown and, where allowed, stored
    format: PlateFormat


def compact_plate(text: str) -> str:
    """Upper-case letters and digits only: `ab-123 cd` → `AB123CD` (no validation)."""
    return clean_text(text)


def classify_compact(compact: str) -> PlateFormat:
    """siv or fni when French-valid (the reader's syntax rules), else foreign."""
    fmt = plate_format(compact)
    return PlateFormat(fmt) if fmt is not None else PlateFormat.FOREIGN


def display_plate(text: str) -> str:
    """The form shown and, where allowed, stored: `AB-123-CD`, `1234 AB 56`, or the compact foreign text."""
    compact = compact_plate(text)
    return format_plate(compact, classify_compact(compact).value)


def mask_plate(text: str | None) -> str:
    """What error messages and reports show of a plate: its first 2 characters, then `…` (GDPR).

    A text of 4 characters or fewer is masked entirely: 2 characters would give away most of it.
    """
    stripped = (text or "").strip()
    return f"{stripped[:2]}…" if len(stripped) > 4 else "…"


def parse_plate_input(text: str, *, what: str = "plate") -> NormalisedPlate:
    """Validate a plate typed by a person; InvalidInputError names the input and what was expected.

    Messages show the plate masked (`mask_plate`): they reach API responses, CLI output and logs.

    French plates are recognised and normalised; other texts of 2–10 letters/digits are kept as `foreign`,
    except ones shaped like a SIV plate with letters that no SIV plate has (a typo, not a foreign plate).
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"{what}: expected a licence plate such as AB-123-CD, got an empty value")
    shown = mask_plate(text)
    if re.search(r"[^A-Za-z0-9\s\-.]", text):
        raise InvalidInputError(
            f"{what} {shown!r}: expected letters and digits (separators '-', ' ', '.'), e.g. AB-123-CD"
        )
    compact = compact_plate(text)
    if not _COMPACT.match(compact):
        raise InvalidInputError(
            f"{what} {shown!r}: expected 2 to 10 letters and digits, e.g. AB-123-CD or 1234 AB 56"
        )
    fmt = classify_compact(compact)
    if fmt is PlateFormat.FOREIGN and _SIV_SHAPE.match(compact):
        raise InvalidInputError(
            f"{what} {shown!r}: shaped like a SIV plate (AA-123-AA) but not valid: letters I, O, U, "
            "the pair SS and the number 000 are never issued"
        )
    return NormalisedPlate(compact=compact, display=format_plate(compact, fmt.value), format=fmt)


def _plate_key(secret: str | SecretStr) -> bytes:
    raw = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    return hmac.new(raw.encode(), _HASH_CONTEXT, hashlib.sha256).digest()


def hash_plate(text: str, secret: str | SecretStr) -> str:
    """Hex HMAC-SHA256 of the compact plate; `AB-123-CD` and `ab 123 cd` hash alike."""
    compact = compact_plate(text)
    if not compact:
        raise InvalidInputError("plate: cannot hash an empty plate text")
    return hmac.new(_plate_key(secret), compact.encode(), hashlib.sha256).hexdigest()
