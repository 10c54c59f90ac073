"""Fetch / verify / resolve against a temporary cache, with synthetic archives and a local HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import io
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.weights import manager
from vigie.weights.manifest import PackageFile

WEIGHTS = b"fake weights " * 1000
CONFIG = b"[net]\nclasses=1\n"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_text(
    *, weights_sha: str = sha(WEIGHTS), url: str | None = None, url_sha: str | None = None
) -> str:
    text = f"""
[models.toy]
version = "2.0"
task = "detect"
backend = "darknet"
licence = "MIT"
input_size = 416
classes = ["thing"]
[models.toy.source]
type = "pypi"
package = "toypkg"
version = "2.0"
files = [
    {{ member = "toypkg/models/toy.weights", role = "weights", sha256 = "{weights_sha}" }},
    {{ member = "toypkg/models/toy.cfg", role = "config", sha256 = "{sha(CONFIG)}" }},
]
"""
    if url is not None:
        pin = f', sha256 = "{url_sha}"' if url_sha else ""
        text += f"""
[models.remote]
version = "1"
task = "detect"
backend = "ultralytics"
licence = "AGPL-3.0"
input_size = 640
classes = ["thing"]
[models.remote.source]
type = "url"
files = [{{ url = "{url}", role = "weights"{pin} }}]
"""
    return text


def make_wheel(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("toypkg/__init__.py", "")
        zf.writestr("toypkg/models/toy.weights", WEIGHTS)
        zf.writestr("toypkg/models/toy.cfg", CONFIG)
    return path


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "manifest.toml"
    path.write_text(manifest_text(), encoding="utf-8")
    return path


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace `pip download` by writing a synthetic wheel; records each requirement downloaded."""
    calls: list[str] = []

    def download(source, dest: Path) -> Path:
        calls.append(source.describe())
        return make_wheel(dest / "toypkg-2.0-py3-none-any.whl")

    monkeypatch.setattr(manager, "_pip_download", download)
    return calls


def test_fetch_verify_resolve_round_trip(tmp_path: Path, manifest: Path, fake_pip: list[str]) -> None:
    cache = tmp_path / "cache"
    model = manager.fetch("toy", weights_dir=cache, manifest=manifest)
    assert fake_pip == ["toypkg==2.0"]
    assert model.directory == cache / "toy" / "2.0"
    assert model.path("weights").read_bytes() == WEIGHTS
    assert model.path("config").read_bytes() == CONFIG
    assert [r.status for r in manager.verify("toy", weights_dir=cache, manifest=manifest)] == ["ok", "ok"]
    assert manager.resolve("toy", weights_dir=cache, manifest=manifest).path() == model.path("weights")
    # already present and verified: nothing downloaded again
    manager.fetch("toy", weights_dir=cache, manifest=manifest)
    assert len(fake_pip) == 1
    # no staging folders left behind
    assert sorted(p.name for p in (cache / "toy").iterdir()) == ["2.0"]


def test_missing_model_error_names_model_and_command(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(ModelUnavailableError) as err:
        manager.resolve("toy", weights_dir=tmp_path / "empty", manifest=manifest)
    message = str(err.value)
    assert "'toy'" in message and "2.0" in message
    assert str(tmp_path / "empty" / "toy" / "2.0") in message
    assert "vigie weights fetch toy" in message
    assert [r.status for r in manager.verify(weights_dir=tmp_path / "empty", manifest=manifest)] == [
        "missing"
    ] * 2


def test_corrupted_file_fails_verify_and_fetch_repairs_it(
    tmp_path: Path, manifest: Path, fake_pip: list[str]
) -> None:
    cache = tmp_path / "cache"
    model = manager.fetch("toy", weights_dir=cache, manifest=manifest)
    model.path("weights").write_bytes(WEIGHTS[:-1] + b"X")
    results = {r.role: r for r in manager.verify("toy", weights_dir=cache, manifest=manifest)}
    assert results["weights"].status == "mismatch" and not results["weights"].ok
    assert results["config"].status == "ok"
    with pytest.raises(ModelUnavailableError, match="checksum mismatch"):
        manager.resolve("toy", weights_dir=cache, manifest=manifest)
    manager.fetch("toy", weights_dir=cache, manifest=manifest)
    assert len(fake_pip) == 2
    assert all(r.ok for r in manager.verify("toy", weights_dir=cache, manifest=manifest))


def test_pinned_checksum_mismatch_after_download_leaves_no_model(tmp_path: Path, fake_pip: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(manifest_text(weights_sha="0" * 64), encoding="utf-8")
    cache = tmp_path / "cache"
    with pytest.raises(ModelUnavailableError, match="does not match the pinned"):
        manager.fetch("toy", weights_dir=cache, manifest=bad)
    assert list((cache / "toy").iterdir()) == []  # neither a version folder nor a staging folder


def test_interrupted_fetch_keeps_no_half_model(
    tmp_path: Path, manifest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(source, dest: Path) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(manager, "_pip_download", interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        manager.fetch("toy", weights_dir=cache, manifest=manifest)
    assert list((cache / "toy").iterdir()) == []


def test_unknown_model_is_a_config_error(tmp_path: Path, manifest: Path) -> None:
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        manager.fetch("nope", weights_dir=tmp_path, manifest=manifest)


def test_extract_from_sdist_with_top_folder(tmp_path: Path) -> None:
    archive = tmp_path / "toypkg-2.0.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        info = tarfile.TarInfo("toypkg-2.0/toypkg/models/toy.weights")
        info.size = len(WEIGHTS)
        tf.addfile(info, io.BytesIO(WEIGHTS))
    dest = tmp_path / "out"
    dest.mkdir()
    member = PackageFile(member="toypkg/models/toy.weights", role="weights", sha256=sha(WEIGHTS))
    manager.extract_members(archive, [member], dest, model="toy")
    assert (dest / "toy.weights").read_bytes() == WEIGHTS
    absent = PackageFile(member="toypkg/other.bin", role="weights", sha256=sha(WEIGHTS))
    with pytest.raises(ModelUnavailableError, match=r"no member 'toypkg/other\.bin'"):
        manager.extract_members(archive, [absent], dest, model="toy")


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (127.0.0.1) serving a temporary folder."""
    root = tmp_path / "www"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("pinned", [True, False])
def test_url_source(tmp_path: Path, http_root: tuple[str, Path], pinned: bool) -> None:
    base, root = http_root
    (root / "remote.pt").write_bytes(WEIGHTS)
    path = tmp_path / "m.toml"
    path.write_text(manifest_text(url=f"{base}/remote.pt", url_sha=sha(WEIGHTS) if pinned else None), "utf-8")
    cache = tmp_path / "cache"
    model = manager.fetch("remote", weights_dir=cache, manifest=path)
    assert model.path().read_bytes() == WEIGHTS
    [result] = manager.verify("remote", weights_dir=cache, manifest=path)
    assert result.status == ("ok" if pinned else "unpinned")
    assert result.ok
    if not pinned:
        assert "no checksum pinned" in result.detail


def test_url_unreachable_and_wrong_checksum(
    tmp_path: Path, http_root: tuple[str, Path], fake_pip: list[str]
) -> None:
    base, root = http_root
    (root / "remote.pt").write_bytes(WEIGHTS)
    wrong = tmp_path / "wrong.toml"
    wrong.write_text(manifest_text(url=f"{base}/remote.pt", url_sha="1" * 64), "utf-8")
    with pytest.raises(ModelUnavailableError, match="does not match the pinned"):
        manager.fetch("remote", weights_dir=tmp_path / "c1", manifest=wrong)
    absent = tmp_path / "absent.toml"
    absent.write_text(manifest_text(url=f"{base}/absent.pt"), "utf-8")
    with pytest.raises(ModelUnavailableError, match="cannot download"):
        manager.fetch("remote", weights_dir=tmp_path / "c2", manifest=absent)
    outcome = manager.fetch_all(weights_dir=tmp_path / "c2", manifest=absent)
    assert isinstance(outcome["remote"], ModelUnavailableError)
    assert outcome["toy"].path().read_bytes() == WEIGHTS  # one failure does not stop the others
