"""Configuration of the traffic pipeline: the `traffic:` section of a YAML site file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TrafficPipelineConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
