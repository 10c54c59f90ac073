"""The model manifest (`weights/manifest.toml`): typed, validated model specifications.

Validation is pure: no file other than the manifest is read and nothing is downloaded.
"""

from __future__ import annotations

import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from vigie.errors import ConfigError

DEFAULT_MANIFEST = Path(__file__).with_name("manifest.toml")

Role = Literal["weights", "config", "names"]
_SHA256 = r"^[0-9a-f]{64}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackageFile(_Strict):
    member: str = Field(title="Archive member", description="Path of the file inside the wheel or sdist.")
    role: Role = Field(title="Role", description="What the file is for: weights, config or names.")
    sha256: str = Field(pattern=_SHA256, title="SHA-256", description="Lower-case hex digest of the file.")

    @property
    def filename(self) -> str:
        return PurePosixPath(self.member).name


class UrlFile(_Strict):
    url: str = Field(pattern=r"^https?://", title="URL", description="HTTP(S) address of the file.")
    role: Role = Field(title="Role", description="What the file is for: weights, config or names.")
    sha256: str | None = Field(
        None, pattern=_SHA256, title="SHA-256", description="Lower-case hex digest; omitted = not pinned yet."
    )

    @property
    def filename(self) -> str:
        return PurePosixPath(self.url.split("?", 1)[0]).name


class _FilesUnique(_Strict):
    @model_validator(mode="after")
    def _one_file_per_role(self) -> _FilesUnique:
        roles = [f.role for f in self.files]  # type: ignore[attr-defined]
        if len(set(roles)) != len(roles):
            raise ValueError(f"each role may appear once, got {roles}")
        names = [f.filename for f in self.files]  # type: ignore[attr-defined]
        if len(set(names)) != len(names):
            raise ValueError(f"file names must be distinct inside one model, got {names}")
        return self


class PypiSource(_FilesUnique):
    type: Literal["pypi"]
    package: str = Field(title="Package", description="Distribution name on the package index.")
    version: str = Field(title="Package version", description="Exact version (pinned).")
    files: list[PackageFile] = Field(min_length=1, title="Files taken out of the archive")

    def describe(self) -> str:
        return f"{self.package}=={self.version}"


class UrlSource(_FilesUnique):
    type: Literal["url"]
    files: list[UrlFile] = Field(min_length=1, title="Files to download")

    def describe(self) -> str:
        return ", ".join(f.url for f in self.files)


Source = Annotated[PypiSource | UrlSource, Field(discriminator="type")]


class ModelSpec(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", title="Model name")
    version: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]*$", title="Model version")
    task: Literal["detect"] = Field(title="Task")
    backend: Literal["darknet", "ultralytics"] = Field(title="Backend that runs the model")
    classes: list[str] = Field(min_length=1, title="Class names", description="Index = class id.")
    licence: str = Field(min_length=1, title="Licence as declared by the source")
    input_size: int = Field(gt=0, le=8192, title="Default square input size, pixels")
    description: str = Field("", title="Description")
    source: Source

    @field_validator("classes")
    @classmethod
    def _names_not_blank(cls, value: list[str]) -> list[str]:
        if any(not n.strip() for n in value):
            raise ValueError("class names must not be blank")
        return value

    @field_validator("source")
    @classmethod
    def _weights_present(cls, source: PypiSource | UrlSource, info: ValidationInfo) -> PypiSource | UrlSource:
        roles = {f.role for f in source.files}
        if "weights" not in roles:
            raise ValueError("files must contain a file with role 'weights'")
        if info.data.get("backend") == "darknet" and "config" not in roles:
            raise ValueError("a darknet model needs a file with role 'config' (the .cfg)")
        return source

    @property
    def names(self) -> dict[int, str]:
        return dict(enumerate(self.classes))


def _location(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def load_manifest(path: Path | None = None) -> dict[str, ModelSpec]:
    """Parse and validate a manifest; `ConfigError` names the file and the offending key."""
    path = Path(path) if path is not None else DEFAULT_MANIFEST
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"model manifest {path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"model manifest {path} is not valid TOML: {exc}") from exc
    unknown = set(raw) - {"schema", "models"}
    if unknown:
        raise ConfigError(
            f"model manifest {path}: unknown top-level key(s) {sorted(unknown)}; expected schema, models"
        )
    if raw.get("schema", 1) != 1:
        raise ConfigError(
            f"model manifest {path}: key 'schema' is {raw['schema']!r}; this Vigie reads schema 1"
        )
    models = raw.get("models")
    if not isinstance(models, dict) or not models:
        raise ConfigError(f"model manifest {path}: expected at least one [models.NAME] table")
    specs: dict[str, ModelSpec] = {}
    for name, table in models.items():
        if not isinstance(table, dict):
            raise ConfigError(f"model manifest {path}: key 'models.{name}' must be a table")
        if table.get("name", name) != name:
            raise ConfigError(
                f"model manifest {path}: key 'models.{name}.name' is {table['name']!r}; "
                "it must equal the table name"
            )
        try:
            specs[name] = ModelSpec.model_validate({**table, "name": name})
        except ValidationError as exc:
            first = exc.errors()[0]
            key = _location(tuple(p for p in first["loc"] if p not in ("pypi", "url")))
            key = f"models.{name}.{key}" if key else f"models.{name}"
            more = f" (and {exc.error_count() - 1} more error(s))" if exc.error_count() > 1 else ""
            raise ConfigError(f"model manifest {path}: key '{key}': {first['msg']}{more}") from exc
    return specs
