"""Configuration of the fire pipeline: the `fire:` section of a YAML site file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class FirePipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
