"""Configuration of the lapi pipeline: the `lapi:` section of a YAML site file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class LapiPipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
