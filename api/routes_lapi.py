"""HTTP routes (`router`, under /api/v1) and HTML pages (`pages`) of the lapi pipeline."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["lapi"])
pages = APIRouter(include_in_schema=False)
