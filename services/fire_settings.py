"""Environment settings of the fire alert services (prefix `VIGIE_FIRE_`), apart from the core Settings."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class FireServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIGIE_FIRE_", env_file=".env", extra="ignore")

    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        title="Webhook URLs",
        description="Comma-separated http(s) URLs POSTed a JSON body for every new alert ingested "
        "through the API (pipelines use their site file's `fire.webhooks`).",
    )
    webhook_timeout_s: float = Field(5.0, gt=0, le=60, title="Webhook timeout (s)")
    webhook_retries: int = Field(3, ge=0, le=10, title="Webhook retries", description="After the first try.")
    cap_sender: str = Field(
        "vigie@localhost",
        pattern=r"^[^\s,&<]+$",
        title="CAP sender",
        description="CAP 1.2 <sender>: a unique id of this system, e.g. vigie@sdis72.fr (no spaces/commas).",
    )
    public_base_url: str | None = Field(
        None,
        title="Public base URL",
        description="e.g. https://vigie.sdis72.fr; makes CAP <web>/<resource> and webhook links absolute.",
    )

    @field_validator("webhook_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _http(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"webhook URL {url!r}: expected http:// or https://")
        return value
