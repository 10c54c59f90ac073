"""Ultralytics, without its run-time installs.

Importing ultralytics replaces `PIL.Image.open` with a wrapper that pip-installs `pi-heif` the first time
Pillow cannot identify a file (a corrupt upload, a text file), and its requirement checks auto-install
missing packages. A service must never install software while it runs (and has no network here): every
Vigie module that needs ultralytics imports it through `load_ultralytics()`, which turns both off.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from types import ModuleType


def load_ultralytics() -> ModuleType:
    # Read by ultralytics.utils at its first import; harmless if it was already imported.
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")
    import ultralytics
    from ultralytics.utils import patches

    # Marks the HEIF plugin as handled, so the patched Image.open behaves as Pillow's own.
    patches._pil_plugins_registered = True
    return ultralytics


def ultralytics_assets_dir() -> Path:
    """The sample images shipped inside the ultralytics wheel (bus.jpg, zidane.jpg), without importing it."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("ultralytics is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets"
