"""The shipped manifest and the errors a broken manifest gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from vigie.errors import ConfigError
from vigie.weights.manifest import PypiSource, UrlSource, load_manifest

GOOD_MODEL = """
[models.tiny]
version = "1.0"
task = "detect"
backend = "ultralytics"
licence = "MIT"
input_size = 320
classes = ["thing"]
[models.tiny.source]
type = "pypi"
package = "somepkg"
version = "1.0"
files = [{ member = "somepkg/m.pt", role = "weights", sha256 = "%s" }]
"""
SHA = "a" * 64


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_manifest_pins_the_registry_models() -> None:
    specs = load_manifest()
    for name in ("coco-yolov4-tiny", "fire-smoke-yolov8", "plate-yolov8n"):
        source = specs[name].source
        assert isinstance(source, PypiSource), name
        assert all(re.fullmatch(r"[0-9a-f]{64}", f.sha256) for f in source.files)
    darknet = specs["coco-yolov4-tiny"]
    assert darknet.backend == "darknet"
    assert {f.role for f in darknet.source.files} == {"weights", "config", "names"}
    assert len(darknet.classes) == 80 and darknet.names[2] == "car"
    assert specs["fire-smoke-yolov8"].classes == ["smoke", "fire"]
    assert "AGPL-3.0" in specs["fire-smoke-yolov8"].licence
    assert isinstance(specs["coco-yolo11n"].source, UrlSource)


def test_valid_minimal_manifest(tmp_path: Path) -> None:
    spec = load_manifest(write(tmp_path, GOOD_MODEL % SHA))["tiny"]
    assert spec.name == "tiny" and spec.names == {0: "thing"}
    assert spec.source.files[0].filename == "m.pt"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (GOOD_MODEL % "not-a-sha", "models.tiny.source.files[0].sha256"),
        (
            (GOOD_MODEL % SHA).replace('licence = "MIT"', 'licence = "MIT"\ncolour = "red"'),
            "models.tiny.colour",
        ),
        ((GOOD_MODEL % SHA).replace('role = "weights"', 'role = "config"'), "models.tiny.source"),
        ((GOOD_MODEL % SHA).replace('backend = "ultralytics"', 'backend = "caffe"'), "models.tiny.backend"),
        ((GOOD_MODEL % SHA).replace('type = "pypi"', 'type = "ftp"'), "models.tiny.source"),
    ],
)
def test_invalid_manifest_names_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_manifest(path)
    assert str(path) in str(err.value)
    assert f"'{key}" in str(err.value)


def test_url_file_may_omit_sha(tmp_path: Path) -> None:
    text = (GOOD_MODEL % SHA).split("[models.tiny.source]")[0] + (
        '[models.tiny.source]\ntype = "url"\n'
        'files = [{ url = "https://example.org/m.pt", role = "weights" }]\n'
    )
    spec = load_manifest(write(tmp_path, text))["tiny"]
    assert spec.source.files[0].sha256 is None


def test_unknown_top_level_key_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown top-level"):
        load_manifest(write(tmp_path, "modelz = 1\n" + GOOD_MODEL % SHA))
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_manifest(write(tmp_path, "[models.tiny\n"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_manifest(tmp_path / "absent.toml")
