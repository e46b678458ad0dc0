"""`install`: mount season planning — routes, WebSocket stream, web page, error
answers — on the engine's FastAPI app; `create_season_app` builds both at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from conveyor import Conveyor, Settings
from conveyor.api import create_app
from conveyor.api.deps import ApiState
from conveyor.api.request_id import request_id_of
from conveyor.errors import ConfigurationError

from . import api, web, websocket
from .config import SeasonSettings
from .connections import ConnectionManager
from .context import load_history
from .errors import SeasonError
from .extraction import Extractor
from .failures import error_payload, status_of
from .orchestrator import SeasonOrchestrator

PAGE_PATH = web.PAGE_PATH
"""Where the planner's page is served."""


def install(
    conveyor: Conveyor,
    app: FastAPI,
    *,
    settings: SeasonSettings | None = None,
    extractor: Extractor | None = None,
    data_dir: Path | None = None,
) -> SeasonOrchestrator:
    """Add season planning to `app`, an API made by `conveyor.api.create_app`.

    Registers the agents and the `season_plan` workflow on `conveyor`, serves
    `/api/orchestrator/*`, `/ws/orchestrator/{session_id}` and the page at
    `/season/`. Serving loads the sales history before the first request and
    closes the extractor when the app shuts down.

    Returns:
        The orchestrator (tests swap agents on its `handoff`).

    Raises:
        ConfigurationError: `app` is not the API of `conveyor`, or an agent name
            is taken.
    """
    state = getattr(app.state, "api", None)
    if not isinstance(state, ApiState) or state.conveyor is not conveyor:
        raise ConfigurationError(
            "install season on the app conveyor.api.create_app(conveyor) returns"
        )
    orchestrator = SeasonOrchestrator(
        conveyor, settings=settings, extractor=extractor, data_dir=data_dir
    )
    app.state.season = orchestrator
    app.state.season_connections = ConnectionManager(
        conveyor, max_queued=state.settings.max_ws_queue
    )
    for module in (api, websocket, web):
        app.include_router(module.router)
    app.add_exception_handler(SeasonError, _season_error)
    _wrap_lifespan(app, orchestrator, data_dir)
    return orchestrator


def create_season_app(
    conveyor: Conveyor | None = None,
    *,
    settings: Settings | None = None,
    season_settings: SeasonSettings | None = None,
    extractor: Extractor | None = None,
) -> FastAPI:
    """The engine's API with season planning installed (an engine is built from
    `settings` when `conveyor` is None)."""
    app = create_app(conveyor, settings)
    engine: Conveyor = app.state.api.conveyor
    install(engine, app, settings=season_settings, extractor=extractor)
    return app


async def _season_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, SeasonError)
    body = error_payload(exc, request_id_of(request.scope))
    return JSONResponse(body, status_code=status_of(exc))


def _wrap_lifespan(
    app: FastAPI, orchestrator: SeasonOrchestrator, data_dir: Path | None
) -> None:
    """Wrap the app's lifespan: load the sales history before serving (so no plan
    pays for parsing it), close the orchestrator after the app stops."""
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> AsyncIterator[Any]:
        try:
            await asyncio.to_thread(load_history, data_dir)
            context: AbstractAsyncContextManager[Any] = inner(owner)
            async with context as state:
                yield state
        finally:
            await orchestrator.aclose()

    app.router.lifespan_context = lifespan
