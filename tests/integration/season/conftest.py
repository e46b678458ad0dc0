"""Fixtures for the season integration tests: an orchestrator on a temp SQLite
engine, with the mock or the real Demand agent, and the season API served by a real
uvicorn server on a free loopback port."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import pytest_asyncio
from season_support import SeasonServer

from conveyor.api import create_app
from conveyor.testing import LocalServer
from conveyor.testing.plugin import ConveyorFactory
from conveyor_apps.season import (
    Scenario,
    SeasonOrchestrator,
    SeasonSettings,
    install,
    load_scenarios,
)
from conveyor_apps.season.testing import use_mock_demand

ServeSeason = Callable[..., Awaitable[SeasonServer]]


@pytest.fixture(autouse=True)
def _offline_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep a developer's SEASON_* variables (an LLM endpoint) out of the tests."""
    for name in list(os.environ):
        if name.startswith("SEASON_"):
            monkeypatch.delenv(name)


@pytest.fixture(name="scenarios", scope="session")
def fixture_scenarios() -> dict[str, Scenario]:
    """The three reference scenarios, keyed zara_style, standard_retail, luxury."""
    return load_scenarios()


@pytest_asyncio.fixture(name="orchestrator")
async def fixture_orchestrator(
    make_conveyor: ConveyorFactory,
) -> AsyncIterator[SeasonOrchestrator]:
    """A season orchestrator with the real agents on an open temp engine."""
    season = SeasonOrchestrator(await make_conveyor())
    yield season
    await season.aclose()


@pytest.fixture(name="mock_orchestrator")
def fixture_mock_orchestrator(orchestrator: SeasonOrchestrator) -> SeasonOrchestrator:
    """The orchestrator with the test kit's mock Demand agent (8000 units)."""
    use_mock_demand(orchestrator.handoff)
    return orchestrator


@pytest_asyncio.fixture(name="serve")
async def fixture_serve(make_conveyor: ConveyorFactory) -> AsyncIterator[ServeSeason]:
    """Start season servers: `await serve(mock=True, api_keys=..., season=...)`;
    other keyword arguments are engine `Settings` fields."""
    started: list[LocalServer] = []

    async def serve(
        *,
        mock: bool = True,
        season: SeasonSettings | None = None,
        **settings: Any,
    ) -> SeasonServer:
        conveyor = await make_conveyor(**settings)
        app = create_app(conveyor)
        orchestrator = install(conveyor, app, settings=season)
        if mock:
            use_mock_demand(orchestrator.handoff)
        server = LocalServer(app, lifespan="on")
        await server.start()
        started.append(server)
        return SeasonServer(server, orchestrator, app)

    yield serve
    for server in reversed(started):
        await server.aclose()


@pytest_asyncio.fixture(name="server")
async def fixture_server(serve: ServeSeason) -> SeasonServer:
    """A season server with the mock Demand agent and no API keys."""
    return await serve()
