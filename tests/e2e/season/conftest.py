"""Fixtures for the season end-to-end tests: `conveyor serve` without SEASON_*
variables, the season app with the real agents served in-process on a free loopback
port, and Debian's chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from e2e_support import ServerProcess, serving
from playwright.async_api import Browser, Page, async_playwright

from conveyor.api import create_app
from conveyor.testing import LocalServer
from conveyor.testing.plugin import ConveyorFactory
from conveyor_apps.season import install

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(autouse=True)
def _offline_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's SEASON_* variables (an LLM endpoint) out of the tests."""
    for name in list(os.environ):
        if name.startswith("SEASON_"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`conveyor serve` (season mounted) on a free port, started without the
    developer's SEASON_* variables so it plans offline."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("SEASON_"):
                patch.delenv(name)
        with serving(tmp_path_factory.mktemp("season-serve")) as running:
            yield running


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
    async with LocalServer(app, lifespan="on") as server:
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
