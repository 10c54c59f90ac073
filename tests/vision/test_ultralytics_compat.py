"""Ultralytics must never install packages at run time (it would pip-install on a bad upload)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from vigie.vision.ultralytics_compat import ultralytics_assets_dir

PROBE = """
import sys
from vigie.vision.ultralytics_compat import load_ultralytics
load_ultralytics()
from PIL import Image, UnidentifiedImageError
import ultralytics.utils.checks as checks
calls = []
checks.check_requirements = lambda *a, **k: calls.append(a)  # would pip-install pi-heif
try:
    Image.open(sys.argv[1])
except UnidentifiedImageError:
    print("refused", len(calls))
"""


def test_a_file_pillow_cannot_read_is_refused_without_installing_anything(tmp_path: Path) -> None:
    garbage = tmp_path / "upload.jpg"
    garbage.write_bytes(b"this is not an image")
    # A fresh interpreter: the patch ultralytics applies at import is process-wide.
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(garbage)], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip() == "refused 0", result.stderr


def test_assets_are_found_without_importing_ultralytics() -> None:
    assert (ultralytics_assets_dir() / "bus.jpg").is_file()
