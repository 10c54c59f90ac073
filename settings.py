"""Process settings from the environment (prefix `VIGIE_`), validated once at start-up."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from vigie.errors import ConfigError

DEFAULT_SECRET = "vigie-development-secret-change-me"
# Real sample data beside a development checkout (the project's shared datasets), used by `vigie demo`.
_CHECKOUT_SAMPLES = Path(__file__).resolve().parent.parent / "shared" / "datasets"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_", env_file=".env", extra="ignore")

    env: Literal["development", "test", "production"] = Field(
        "development", title="Environment", description="`production` refuses default secrets."
    )
    data_dir: Path = Field(
        Path("var"), title="Data directory", description="Where the embedded SQLite file and media live."
    )
    database_url: str | None = Field(
        None,
        title="Database URL",
        description="SQLAlchemy URL, e.g. postgresql+psycopg://user@host/vigie. Default: SQLite in data_dir.",
    )
    secret_key: SecretStr = Field(
        SecretStr(DEFAULT_SECRET),
        title="Secret key",
        description="Keys the HMAC of API tokens and licence plates. Must be set outside development.",
    )
    bootstrap_admin_token: SecretStr | None = Field(
        None,
        title="Bootstrap admin token",
        description="If set, an admin token with this value is ensured at start-up (first deployment).",
    )
    weights_dir: Path = Field(
        Path.home() / ".cache" / "vigie" / "weights",
        title="Weights cache",
        description="Model files, one folder per model version. Never inside the git tree.",
    )
    device: str = Field(
        "auto", title="Inference device", description="auto, cpu, cuda or cuda:N (auto: cuda:0 if available)."
    )
    samples_dir: Path | None = Field(
        _CHECKOUT_SAMPLES if _CHECKOUT_SAMPLES.is_dir() else None,
        title="Samples directory",
        description="Real sample data for `vigie demo` (smoke videos, plates, beach photos); "
        "default: ../shared/datasets beside the checkout when present.",
    )
    log_level: str = Field("INFO", title="Log level")
    log_json: bool = Field(False, title="JSON logs", description="One JSON object per line on stderr.")
    tile_url: str | None = Field(
        None,
        title="Map tile URL",
        description="XYZ tile template, e.g. https://tile.example/{z}/{x}/{y}.png; none = offline map.",
    )
    # NoDecode: the environment gives a comma-separated list, not JSON.
    trusted_proxies: Annotated[list[ipaddress.IPv4Network | ipaddress.IPv6Network], NoDecode] = Field(
        default_factory=list,
        title="Trusted proxies",
        description="IPs or CIDRs of the reverse proxies in front of the API, comma-separated "
        "(10.0.0.5,172.16.0.0/12). Only their X-Forwarded-For is believed; empty = none.",
    )

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_trusted_proxies(cls, value: Any) -> Any:
        items = value.split(",") if isinstance(value, str) else value
        if not isinstance(items, list | tuple):
            return value
        networks = []
        for item in items:
            text = str(item).strip()
            if not text:
                continue
            try:
                networks.append(ipaddress.ip_network(text, strict=False))
            except ValueError as exc:
                raise ValueError(f"{text!r} is not an IP address or CIDR (10.0.0.5, 10.0.0.0/8)") from exc
        return networks

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> Settings:
        if self.env == "production" and self.secret_key.get_secret_value() == DEFAULT_SECRET:
            raise ValueError(
                "VIGIE_SECRET_KEY is the development default; set a long random value in production"
            )
        if self.env == "production" and len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("VIGIE_SECRET_KEY must be at least 32 characters in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'vigie.db').as_posix()}"


def load_settings() -> Settings:
    """Settings from the environment; a refused value (default secret in production...) is a ConfigError."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"invalid VIGIE_* settings: {problems}") from exc


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once (ConfigError when the environment is invalid)."""
    return load_settings()
