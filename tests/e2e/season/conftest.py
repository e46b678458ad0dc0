"""Fixtures for the season page in a real browser: the season app with the real
agents served on a free loopback port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page, async_playwright

from conveyor.api import create_app
from conveyor.testing.plugin import ConveyorFactory
from conveyor_apps.season import install
from conveyor_apps.season.testing import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> Path:
    """Debian's chromium; fails (never skips) saying how to install it."""
    found = CHROMIUM if CHROMIUM.exists() else None
    if found is None and (on_path := shutil.which("chromium")):
        found = Path(on_path)
    if found is None:
        pytest.fail(
            "chromium is not installed: run `apt-get update && apt-get install -y "
            "chromium` (scripts/test.sh does this when it is missing)"
        )
    return found


@pytest_asyncio.fixture(name="season_site")
async def fixture_season_site(make_conveyor: ConveyorFactory) -> AsyncIterator[str]:
    """The season app with the real agents; its base URL."""
    conveyor = await make_conveyor()
    app = create_app(conveyor)
    install(conveyor, app)
    async with LiveServer(app) as server:
        yield server.url


@pytest_asyncio.fixture(name="browser")
async def fixture_browser() -> AsyncIterator[Browser]:
    """A headless chromium, closed after the test."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(executable), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest_asyncio.fixture(name="page")
async def fixture_page(browser: Browser) -> AsyncIterator[Page]:
    """A page 1280×900, closed after the test."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    yield page
    await context.close()
