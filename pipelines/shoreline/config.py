"""Configuration of the shoreline pipeline: the `shoreline:` section of a YAML site file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ShorelinePipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
