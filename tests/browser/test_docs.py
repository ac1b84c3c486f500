"""`/docs` in a real browser: Swagger UI renders from the platform's own files (the
PageWatch of conftest fails the test on any request to another host, e.g. a CDN)."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.conftest import OpenPage, Shoot


def test_api_docs_render_without_the_internet(open_page: OpenPage, shoot: Shoot) -> None:
    page = open_page()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info .title")).to_be_visible()
    expect(page.get_by_text("/v1/cases/{case_id}/replies").first).to_be_visible()
    shoot(page, "api-docs")
