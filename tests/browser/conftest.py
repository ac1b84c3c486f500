"""Real-browser tests: Playwright drives the machine's Chromium against a running platform.

The browser is Debian's `chromium` package (`make browser` installs it, and `make test`
runs that first), launched through Playwright's `executable_path`, headless: Playwright's
own browser download cannot work on these machines. When Chromium is missing every test
here FAILS with the command that installs it; a browser test that skipped would let the
console break unnoticed.

The platform is the real one (`socialcare run all`, embedded backends) in development mode,
as `make run` starts it, with known passwords for `admin` and the care config's agents.

Each person in a test gets their own browser context (`open_page`), so their session
cookies are their own. Pages may only talk to the platform: a request to any other host (a
CDN, a web font) fails the test, as does an uncaught JavaScript error. Screenshots:
`shoot(page, name)` writes `.cache/screenshots/<name>.png` (`SOCIALCARE_TEST_SCREENSHOTS_DIR`
puts them elsewhere: `make screenshots` writes the README's into docs/screenshots/), and a
failed test leaves a picture of every page it had open in .cache/screenshots/FAILED-*.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

from tests.e2e.platform import Platform, make_platform, running

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CHROMIUM = "/usr/bin/chromium"
ADMIN_PASSWORD = "admin-browser-tests-1"
DEV_PASSWORD = "dev-browser-tests-1"

# The laptop the issue names; the wall has its own 1080p context.
LAPTOP = {"width": 1366, "height": 768}
WALL = {"width": 1920, "height": 1080}


CACHE_SCREENSHOTS = REPO / ".cache" / "screenshots"

# Pages change live: give them time on a slow machine (CI) before an assertion fails.
expect.set_options(timeout=15_000)


def screenshots_dir() -> Path:
    """Where `shoot` writes: .cache/screenshots/, or SOCIALCARE_TEST_SCREENSHOTS_DIR."""
    configured = os.environ.get("SOCIALCARE_TEST_SCREENSHOTS_DIR")
    path = Path(configured) if configured else CACHE_SCREENSHOTS
    if not path.is_absolute():
        path = REPO / path
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Record each phase's report on the item, so fixtures know at teardown that it failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    return any(
        getattr(getattr(request.node, f"report_{when}", None), "failed", False)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def chromium_executable() -> str:
    """The Chromium to drive; a missing one is a failure, never a skip."""
    path = os.environ.get("SOCIALCARE_TEST_CHROMIUM", DEFAULT_CHROMIUM)
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"Chromium is not installed at {path}: the browser tests need it. Run `make browser` "
            "(as root it installs Debian's `chromium`; otherwise `sudo apt-get install -y "
            "chromium`), or set SOCIALCARE_TEST_CHROMIUM to another Chromium build.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    # Per module, not per session: Playwright's sync API runs an event loop on the main
    # thread while it lives, and every later test in the session calling asyncio.run()
    # would find it "already running".
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright, chromium_executable: str) -> Iterator[Browser]:
    launched = playwright.chromium.launch(
        executable_path=chromium_executable,
        headless=True,
        # Containers give Chromium a small /dev/shm; root needs no sandbox flag from us
        # (Playwright passes --no-sandbox unless chromium_sandbox=True).
        args=["--disable-dev-shm-usage"],
    )
    try:
        yield launched
    finally:
        launched.close()


@pytest.fixture(scope="module")
def care_config(request: pytest.FixtureRequest) -> str | None:
    """The care config the module's platform runs with: the module's `CARE_CONFIG` when it has
    one, else tests/e2e's. A module may still override the fixture (to read a file)."""
    config: str | None = getattr(request.module, "CARE_CONFIG", None)
    return config


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, care_config: str | None
) -> Iterator[Platform]:
    """The platform in development mode on the embedded backends, one per test module."""
    made = make_platform(tmp_path_factory.mktemp("browser"), "embedded", "embedded")
    if care_config is not None:
        Path(made.env["SOCIALCARE_CARE_CONFIG"]).write_text(care_config)
    made.env.update(
        {
            "SOCIALCARE_DEV_MODE": "1",
            "SOCIALCARE_DEV_PASSWORD": DEV_PASSWORD,
            "SOCIALCARE_ADMIN_PASSWORD": ADMIN_PASSWORD,
        }
    )
    with running(made) as started:
        yield started


@dataclass
class PageWatch:
    """What a page did that a test must not allow: leave the platform, or throw."""

    base_url: str
    foreign_requests: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        """Record and refuse (at once, no waiting for a network) requests to other hosts."""
        context.route(self._foreign, lambda route: self._refuse(route))
        context.on("page", lambda page: page.on("pageerror", self._page_error))

    def _foreign(self, url: str) -> bool:
        own = url == self.base_url or url.startswith(self.base_url + "/")
        return not own and not url.startswith(("data:", "blob:"))

    def _refuse(self, route: Route) -> None:
        self.foreign_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def _page_error(self, error: Exception) -> None:
        self.page_errors.append(str(error))


OpenPage = Callable[..., Page]
Shoot = Callable[..., Path]


@pytest.fixture
def open_page(
    browser: Browser, platform: Platform, request: pytest.FixtureRequest
) -> Iterator[OpenPage]:
    """`open_page(viewport=LAPTOP, locale="en-GB")`: a page in a fresh context (one person)."""
    contexts: list[BrowserContext] = []
    watch = PageWatch(platform.base_url)

    def open_one(viewport: dict[str, int] | None = None, locale: str = "en-GB") -> Page:
        context = browser.new_context(
            base_url=platform.base_url,
            viewport=viewport or LAPTOP,  # type: ignore[arg-type]
            locale=locale,
            timezone_id="Europe/Amsterdam",
        )
        context.set_default_timeout(15_000)
        watch.watch(context)
        contexts.append(context)
        return context.new_page()

    yield open_one
    if _failed(request):
        # Always under .cache, never among the README's pictures.
        CACHE_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        for i, context in enumerate(contexts):
            for j, page in enumerate(context.pages):
                try:
                    page.screenshot(path=CACHE_SCREENSHOTS / f"FAILED-{name}-{i}-{j}.png")
                except Exception as exc:  # the page may be the reason the test failed
                    print(f"no screenshot of page {i}-{j}: {exc}")
    for context in contexts:
        context.close()
    assert not watch.foreign_requests, (
        f"pages requested other hosts than the platform: {watch.foreign_requests}"
    )
    assert not watch.page_errors, f"uncaught JavaScript errors: {watch.page_errors}"


@pytest.fixture
def shoot() -> Shoot:
    """`shoot(page, name, full_page=False)`: save a screenshot as <name>.png; its path."""

    def take(page: Page, name: str, full_page: bool = False) -> Path:
        path = screenshots_dir() / f"{name}.png"
        page.screenshot(path=path, full_page=full_page)
        return path

    return take
