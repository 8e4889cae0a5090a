"""Browser tests: Playwright (Python) driving Debian's Chromium, headless, against a real gateway
process. No browser is downloaded: `scripts/test` installs the `chromium` package. Screenshots
go to `test-artifacts/` (not committed; copies of the telling ones live in `docs/images/`).

Every request the pages make is recorded, and a test fails if one leaves the gateway's origin.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_path() -> str:
    found = (
        os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        pytest.fail("Chromium is not installed: `apt-get install chromium` (scripts/test does it)")
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    args = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses root otherwise
    browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
    try:
        yield browser
    finally:
        browser.close()


class RecordedPage:
    """A page that remembers every URL it requested, and every request body it sent."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.requests: list[str] = []
        self.bodies: list[str] = []
        page.on("request", self._record)

    def _record(self, request: Request) -> None:
        self.requests.append(request.url)
        self.bodies.append(request.post_data or "")

    def foreign(self, origin: str) -> list[str]:
        return [url for url in self.requests if not url.startswith(origin + "/")]

    def open_with_key(self, url: str, key: str) -> str:
        """Opens a private page (dashboard, desk), types `key` and submits it; the page's
        `data-ready` once it has loaded (`true`) or refused the key (`error`)."""
        self.page.goto(url)
        self.page.fill("#key", key)
        self.page.click("#login button[type=submit]")
        self.page.wait_for_selector("body[data-ready]")
        return str(self.page.get_attribute("body", "data-ready"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def page(browser: Browser) -> Iterator[RecordedPage]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    try:
        yield RecordedPage(context.new_page())
    finally:
        context.close()
