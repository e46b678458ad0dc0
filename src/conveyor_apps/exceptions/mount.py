"""Putting the platform on an engine: `register` adds the stage workflows (what a
worker needs), `install` also mounts the HTTP routes on the engine's FastAPI app,
`create_exceptions_app` builds both, and `worker_app` is a `conveyor worker --app`
target."""

from __future__ import annotations

import weakref
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import TYPE_CHECKING, Any

from conveyor import Conveyor, Settings
from conveyor.errors import ConfigurationError

from .config import ExceptionsSettings
from .platform import ExceptionPlatform

if TYPE_CHECKING:  # workers never load the web stack
    from fastapi import FastAPI

_PLATFORMS: weakref.WeakKeyDictionary[Conveyor, ExceptionPlatform] = (
    weakref.WeakKeyDictionary()
)


def register(conveyor: Conveyor, **options: Any) -> ExceptionPlatform:
    """The platform on `conveyor`, made (and its workflows registered) on first
    call; `options` go to `ExceptionPlatform` then."""
    found = _PLATFORMS.get(conveyor)
    if found is None:
        found = _PLATFORMS[conveyor] = ExceptionPlatform(conveyor, **options)
    return found


def platform_of(conveyor: Conveyor) -> ExceptionPlatform | None:
    """The platform registered on `conveyor`, if any."""
    return _PLATFORMS.get(conveyor)


def install(conveyor: Conveyor, app: FastAPI, **options: Any) -> ExceptionPlatform:
    """Add the platform to `app`, an API made by `conveyor.api.create_app`.

    Registers the stage workflows on `conveyor` (unless done already), serves
    `/exceptions…` and `/tenants/{id}/policy`, adds the `exceptions_*` metrics to
    `/metrics`, and opens the platform's tables before serving; the platform is
    closed when the app stops.

    Raises:
        ConfigurationError: `app` is not the API of `conveyor`, or a workflow or
            agent name is taken.
    """
    from conveyor.api.deps import ApiState

    from . import api

    state = getattr(app.state, "api", None)
    if not isinstance(state, ApiState) or state.conveyor is not conveyor:
        raise ConfigurationError(
            "install the exception platform on the app conveyor.api.create_app("
            "conveyor) returns"
        )
    platform = register(conveyor, **options)
    app.state.exceptions = platform
    app.include_router(api.router)
    state.metrics.registry.register(platform.telemetry.collector())
    _wrap_lifespan(app, platform)
    return platform


def create_exceptions_app(
    conveyor: Conveyor | None = None,
    *,
    settings: Settings | None = None,
    exceptions_settings: ExceptionsSettings | None = None,
    **options: Any,
) -> FastAPI:
    """The engine's API with the platform installed (an engine is built from
    `settings` when `conveyor` is None); `options` go to `ExceptionPlatform`."""
    from conveyor.api import create_app

    app = create_app(conveyor, settings)
    engine: Conveyor = app.state.api.conveyor
    install(engine, app, settings=exceptions_settings, **options)
    return app


def worker_app() -> Conveyor:
    """An engine with the stage workflows, for `conveyor worker --app
    conveyor_apps.exceptions.mount:worker_app` (settings from the environment)."""
    conveyor = Conveyor(settings=Settings())
    register(conveyor)
    return conveyor


def _wrap_lifespan(app: FastAPI, platform: ExceptionPlatform) -> None:
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(owner: Any) -> AsyncIterator[Any]:
        try:
            context: AbstractAsyncContextManager[Any] = inner(owner)
            async with context as state:
                await platform.ready()
                platform.telemetry.start_refreshing(platform.settings.metrics_refresh_s)
                yield state
        finally:
            await platform.aclose()

    app.router.lifespan_context = lifespan
