"""The API documentation pages render without internet (their scripts are served by the app)."""

from __future__ import annotations

import pytest

from vigie.api.app import create_app
from vigie.settings import Settings

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_the_operations_offline(tmp_path, live_server, chromium) -> None:
    from playwright.sync_api import expect

    settings = Settings(
        _env_file=None, env="test", database_url=f"sqlite:///{tmp_path / 'vigie.db'}", data_dir=tmp_path
    )
    with live_server(create_app(settings, migrate=True)) as base_url:
        page = chromium.new_page()
        outside: list[str] = []
        errors: list[str] = []
        local = (base_url, "blob:", "data:")
        page.on("request", lambda r: None if r.url.startswith(local) else outside.append(r.url))
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{base_url}/docs")
        expect(page.locator(".opblock").first).to_be_visible(timeout=15_000)
        assert page.locator(".opblock").count() > 20  # every route of the API is listed
        assert outside == [] and errors == []
        # ReDoc too (its only outside request is its own logo, which does not stop it rendering).
        page.goto(f"{base_url}/redoc")
        expect(page.get_by_text("Vigie").first).to_be_visible(timeout=15_000)
        assert errors == []
