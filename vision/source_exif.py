"""Capture time of a still image from its EXIF block, read from the file's bytes.

The EXIF block is located by walking the JPEG segments or PNG chunks and parsed with `PIL.Image.Exif`, without
`PIL.Image.open`: ultralytics replaces `Image.open` at import with a wrapper that tries to install a HEIF
plugin (a network call) whenever a file is not a recognised image, which a damaged photo would trigger.
"""

from __future__ import annotations

import logging
import struct
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from PIL import Image

log = logging.getLogger(__name__)

_EXIF_IFD = 0x8769
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def exif_block(data: bytes) -> bytes | None:
    """The raw EXIF (TIFF-structured) bytes of a JPEG (APP1 segment) or PNG (eXIf chunk), if any."""
    if data.startswith(b"\xff\xd8"):
        pos = 2
        while pos + 4 <= len(data) and data[pos] == 0xFF:
            marker = data[pos + 1]
            if marker == 0xDA:  # start of scan: no metadata after this
                return None
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            payload = data[pos + 4 : pos + 2 + length]
            if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
                return payload[6:]
            pos += 2 + length
        return None
    if data.startswith(_PNG_SIGNATURE):
        pos = len(_PNG_SIGNATURE)
        while pos + 8 <= len(data):
            length, kind = struct.unpack(">I4s", data[pos : pos + 8])
            if kind == b"eXIf":
                return data[pos + 8 : pos + 8 + length]
            if kind == b"IEND":
                return None
            pos += 12 + length
    return None


def exif_capture_time(data: bytes, default_zone: ZoneInfo, *, name: str = "image") -> datetime | None:
    """EXIF DateTimeOriginal as UTC: with OffsetTimeOriginal when present, else read in `default_zone`.

    None when the image has no EXIF block, no DateTimeOriginal, or unparsable values (logged, naming `name`).
    """
    block = exif_block(data)
    if not block:
        return None
    exif = Image.Exif()
    try:
        exif.load(block)
        sub_ifd = exif.get_ifd(_EXIF_IFD)
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        log.warning("ignoring a damaged EXIF block in %s (%s)", name, exc)
        return None
    raw = sub_ifd.get(_DATETIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        local = datetime.strptime(raw.strip("\x00 "), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        log.warning("ignoring unparsable EXIF DateTimeOriginal %r in %s", raw, name)
        return None
    offset = sub_ifd.get(_OFFSET_TIME_ORIGINAL)
    if isinstance(offset, str):
        try:
            return datetime.fromisoformat(local.isoformat() + offset.strip("\x00 ")).astimezone(UTC)
        except ValueError:
            log.warning("ignoring unparsable EXIF OffsetTimeOriginal %r in %s", offset, name)
    return local.replace(tzinfo=default_zone).astimezone(UTC)
