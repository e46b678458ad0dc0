"""`conveyor servers up|down|status`: PostgreSQL and NATS for local development,
started from the `servers` extra's wheels and left running in the background.

`up` prints the variables to export (`eval "$(conveyor servers up)"`), so
`conveyor serve`, `conveyor worker` and the test suite use these servers.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from .common import JsonOption, err, out
from .exits import EPILOG, ExitCode

servers_app = typer.Typer(
    help="Run PostgreSQL and NATS locally (from the pip wheels, no Docker).",
    no_args_is_help=True,
    epilog=EPILOG,
)

DirOption = Annotated[
    Path,
    typer.Option(
        "--dir",
        help="Where the servers keep their data and servers.json (their pids and "
        "URLs).",
        file_okay=False,
    ),
]
DEFAULT_DIR = Path(".conveyor")


@servers_app.command("up", epilog=EPILOG)
def up(
    directory: DirOption = DEFAULT_DIR,
    postgres: Annotated[
        bool, typer.Option("--postgres/--no-postgres", help="Start PostgreSQL.")
    ] = True,
    nats: Annotated[
        bool, typer.Option("--nats/--no-nats", help="Start NATS with JetStream.")
    ] = True,
    durable: Annotated[
        bool,
        typer.Option(
            "--durable", help="Keep PostgreSQL's fsync on (slower, survives crashes)."
        ),
    ] = False,
) -> None:
    """Start the servers (those already up are kept) and print the variables to
    export."""
    from ..testing.servers import ServerError
    from ..testing.servers import detached as servers

    try:
        running = servers.up(directory, postgres=postgres, nats=nats, durable=durable)
    except ServerError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(int(ExitCode.UNAVAILABLE)) from None
    for server in running.values():
        err.print(f"{server.name} is up at {server.url} (pid {server.pid})")
    for name, value in servers.env_vars(running).items():
        out.print(f"export {name}={value}")
    err.print(f"stop them with: conveyor servers down --dir {directory}")


@servers_app.command("down", epilog=EPILOG)
def down(directory: DirOption = DEFAULT_DIR) -> None:
    """Stop the servers started by `up` and remove their data."""
    from ..testing.servers import detached as servers

    stopped = servers.down(directory)
    err.print(f"stopped {', '.join(stopped)}" if stopped else "no server was running")


@servers_app.command("status", epilog=EPILOG)
def status(directory: DirOption = DEFAULT_DIR, as_json: JsonOption = False) -> None:
    """Say whether each server answers; exit code 5 if one does not."""
    from ..testing.servers import detached as servers

    recorded = servers.load(directory)
    states = {name: servers.answers(server) for name, server in recorded.items()}
    if as_json:
        body = {
            name: {"url": server.url, "pid": server.pid, "up": states[name]}
            for name, server in recorded.items()
        }
        out.print(json.dumps(body), markup=False)
    elif not recorded:
        err.print(f"no servers recorded in {directory}; start them with `up`")
    for name, server in recorded.items():
        if not as_json:
            state = "up" if states[name] else "[bold red]down[/]"
            out.print(f"{name}: {state} at {server.url} (pid {server.pid})")
    if not recorded or not all(states.values()):
        raise typer.Exit(int(ExitCode.UNAVAILABLE))
