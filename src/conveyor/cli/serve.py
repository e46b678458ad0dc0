"""`conveyor serve`: the HTTP API, WebSocket streams and dashboard, with workflows
executing in the same process (embedded mode)."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from ..errors import ConfigurationError
from ..logs import configure_logging, log_events
from .apps import AppOption, NoExamplesOption, build_app
from .common import err, execute
from .exits import ExitCode

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ..app import Conveyor

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


def serve(
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="Interface to bind. Default 127.0.0.1 (CONVEYOR_HOST); use 0.0.0.0 "
            "only behind auth (CONVEYOR_API_KEYS).",
            show_default=False,
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            min=1,
            max=65535,
            help="Port to listen on. Default 8000 (CONVEYOR_PORT).",
            show_default=False,
        ),
    ] = None,
    app_ref: AppOption = None,
    no_examples: NoExamplesOption = False,
    no_season: Annotated[
        bool,
        typer.Option(
            "--no-season",
            help="Don't mount season planning (its API, stream and page at /season/).",
        ),
    ] = False,
    no_exceptions: Annotated[
        bool,
        typer.Option(
            "--no-exceptions",
            help="Don't mount the exception platform (/exceptions, its stages).",
        ),
    ] = False,
    log_level: Annotated[
        str,
        typer.Option(
            "--log-level",
            help=f"Server log level: {', '.join(LOG_LEVELS)}.",
        ),
    ] = "info",
) -> None:
    """Serve the HTTP API and dashboard and execute workflows in this process. The
    store comes from CONVEYOR_STORE_URL (default sqlite:///conveyor.db)."""
    if log_level not in LOG_LEVELS:
        raise typer.BadParameter(
            f"{log_level!r} is not one of {', '.join(LOG_LEVELS)}",
            param_hint="--log-level",
        )
    conveyor = build_app(app_ref, examples=not no_examples)
    configure_logging(log_level)
    log_events(conveyor.bus)
    from ..api import create_app  # the API pulls in FastAPI; only `serve` needs it

    settings = conveyor.settings
    bind_host = host or settings.host
    bind_port = port or settings.port
    api = create_app(conveyor, settings)
    pages = [] if no_season else _mount_season(conveyor, api)
    if not no_exceptions:
        pages += _mount_exceptions(conveyor, api)
    config = uvicorn.Config(
        api,
        host=bind_host,
        port=bind_port,
        log_level=log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,  # open streams must not hold a shutdown hostage
    )
    execute(_serve(_Server(config, pages)), as_json=False)


def _mount_season(conveyor: Conveyor, api: FastAPI) -> list[tuple[str, str]]:
    """Mount season planning; the pages to announce (none if it cannot be)."""
    from conveyor_apps.season import install
    from conveyor_apps.season.mount import PAGE_PATH

    try:
        install(conveyor, api)
    except ConfigurationError as exc:  # e.g. the --app has an agent named demand
        err.print(f"[yellow]season planning not mounted:[/] {exc} (--no-season)")
        return []
    return [("season planning", PAGE_PATH)]


def _mount_exceptions(conveyor: Conveyor, api: FastAPI) -> list[tuple[str, str]]:
    """Mount the exception platform; the pages to announce (none if it cannot be)."""
    from conveyor_apps.exceptions.mount import install

    try:
        install(conveyor, api)
    except ConfigurationError as exc:  # e.g. the --app registered the same names
        err.print(f"[yellow]exception platform not mounted:[/] {exc} (--no-exceptions)")
        return []
    return [("exception platform", "/docs#/exceptions")]


async def _serve(server: _Server) -> ExitCode:
    try:
        await server.serve()
    except SystemExit:  # uvicorn exits this way when it cannot start or bind
        if server.started:
            raise
    return ExitCode.OK if server.started else ExitCode.UNAVAILABLE


class _Server(uvicorn.Server):
    """Says where to look once it is listening."""

    def __init__(self, config: uvicorn.Config, pages: list[tuple[str, str]]) -> None:
        super().__init__(config)
        self.pages = pages

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        host, port = self.config.host, self.config.port
        shown = f"[{host}]" if ":" in host else host
        base = f"http://{shown}:{port}"
        err.print(f"conveyor is serving on [bold]{base}/[/]  (dashboard)")
        for title, path in self.pages:
            err.print(f"{title}: [bold]{base}{path}[/]")
        err.print(f"API docs: {base}/docs   stop with Ctrl-C")
