"""The fire watch room's live alert console: `GET /fire/console`.

The page is static HTML + vanilla JS served from /static/fire/ (no CDN: watch rooms may be offline). It
holds no data itself: the operator pastes an API token once, and the script reads everything from the
authenticated `/api/v1/alerts*` and `/api/v1/fire/*` routes, live through Server-Sent Events. The only
value rendered server-side is the optional map tile URL template (`VIGIE_TILE_URL`), so that the map
can draw raster tiles under the cameras when the deployment has a tile server.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from vigie.api.deps import SettingsDep

TEMPLATES_DIR = Path(__file__).parent / "templates"
CONSOLE_PATH = "/fire/console"

_templates = Jinja2Templates(directory=TEMPLATES_DIR)

pages = APIRouter(include_in_schema=False)


@pages.get(CONSOLE_PATH, response_class=HTMLResponse)
def fire_console(request: Request, settings: SettingsDep) -> HTMLResponse:
    """The alert console page; authentication happens in the browser, with the token the operator gives."""
    response = _templates.TemplateResponse(
        request,
        "fire/console.html",
        {"tile_url": settings.tile_url},
    )
    # The page embeds no secret, but an operator's screen must never show a stale cached console.
    response.headers["Cache-Control"] = "no-store"
    return response
