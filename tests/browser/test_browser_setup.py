"""The browser layer itself: Chromium starts headless, renders what the platform serves,
refuses requests to other hosts, and the screenshot lands where it is looked for."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from tests.browser.conftest import OpenPage, PageWatch, Shoot
from tests.e2e.platform import Platform


def test_chromium_renders_a_page_of_the_platform(open_page: OpenPage, shoot: Shoot) -> None:
    page = open_page()
    response = page.goto("/healthz")
    assert response is not None and response.ok
    expect(page.locator("body")).to_contain_text('"status"')
    path = shoot(page, "browser-setup-healthz")
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_request_to_another_host_is_refused_and_recorded(
    browser: Browser, platform: Platform
) -> None:
    context = browser.new_context(base_url=platform.base_url)
    try:
        watch = PageWatch(platform.base_url)
        watch.watch(context)
        page = context.new_page()
        page.goto("/healthz")
        outcome = page.evaluate(
            "fetch('https://cdn.example.org/htmx.min.js').then(() => 'fetched', () => 'refused')"
        )
        assert outcome == "refused"
        assert watch.foreign_requests == ["https://cdn.example.org/htmx.min.js"]
    finally:
        context.close()
