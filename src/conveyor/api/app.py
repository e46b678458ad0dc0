"""`create_app`: the FastAPI application around a `Conveyor` — routes, middleware,
error handlers, metrics, and a lifespan that opens the engine if nobody else did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version

from fastapi import FastAPI

from ..app import Conveyor
from ..ratelimit import submission_limiter
from ..settings import Settings
from . import dashboard, dead_letters, health, metrics, runs, streams
from .auth import Authenticator
from .deps import ApiState
from .errors import CatchAllMiddleware, install_error_handlers
from .limits import BodyLimitMiddleware
from .metrics import Metrics, MetricsMiddleware
from .redaction import install_key_redaction
from .request_id import RequestIdMiddleware

DESCRIPTION = """\
Start, watch and control durable workflow runs.

Authenticate with your tenant's key in the `X-API-Key` header (WebSockets may pass
`api_key` in the query string instead). Every error is JSON
`{error, message, request_id, details}`; send `X-Request-ID` to choose the id.
Events stream over Server-Sent Events (`/v1/runs/{id}/events`) and WebSockets
(`/v1/runs/{id}/ws?after=SEQ`, `/v1/sessions/{session_id}/ws`).
"""


def create_app(
    conveyor: Conveyor | None = None, settings: Settings | None = None
) -> FastAPI:
    """The HTTP API for an engine.

    Args:
        conveyor: the engine to serve; None builds one from `settings` (with no
            workflows registered: register them on `app.state.api.conveyor`).
        settings: the server's settings (API keys, admin key, body and stream
            bounds, allowed origins); defaults to the engine's own.

    Returns:
        The FastAPI app. Its lifespan opens the engine unless it is open already,
        and closes only an engine it opened itself.
    """
    settings = settings or (conveyor.settings if conveyor is not None else Settings())
    engine = conveyor if conveyor is not None else Conveyor(settings=settings)
    install_key_redaction()
    state = ApiState(
        conveyor=engine,
        settings=settings,
        auth=Authenticator(settings),
        metrics=Metrics(),
        submissions=submission_limiter(settings),
    )
    engine.bus.add_listener(state.metrics.observe_event)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        opened_here = not engine.is_open
        if opened_here:
            await engine.open()
        try:
            yield
        finally:
            if opened_here:
                await engine.aclose()

    app = FastAPI(
        title="conveyor",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.api = state
    install_error_handlers(app)
    for module in (runs, streams, dead_letters, health, metrics, dashboard):
        app.include_router(module.router)
    # added innermost first: request id → metrics → catch-all → body limit → routes
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(CatchAllMiddleware)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    app.add_middleware(RequestIdMiddleware)
    return app


def _version() -> str:
    try:
        return version("conveyor")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0.0.0"
