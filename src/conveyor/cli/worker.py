"""`conveyor worker`: execute runs dispatched over NATS JetStream, sharing a
PostgreSQL store with any number of other workers and API servers.

SIGTERM or Ctrl-C stops taking runs, lets those in flight finish for
`--drain-timeout` seconds, then hands the rest to other workers at once.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer

from .apps import AppOption, NoExamplesOption, build_app
from .common import err, execute
from .exits import ExitCode


def worker(
    app_ref: AppOption = None,
    no_examples: NoExamplesOption = False,
    drain_timeout: Annotated[
        float,
        typer.Option(
            "--drain-timeout",
            min=0.0,
            help="On SIGTERM, seconds to let runs in flight finish before handing "
            "them to other workers.",
        ),
    ] = 30.0,
) -> None:
    """Execute workflows dispatched over NATS. Needs CONVEYOR_STORE_URL=postgresql://…
    and CONVEYOR_BUS_URL=nats://…; start as many as you like."""
    conveyor = build_app(app_ref, examples=not no_examples)
    if not conveyor.bus.distributes_runs:
        err.print(
            "[bold red]error:[/] a worker needs CONVEYOR_BUS_URL=nats://… and "
            "CONVEYOR_STORE_URL=postgresql://… (embedded mode runs workflows "
            "inside `conveyor serve`)"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    execute(_work(conveyor, drain_timeout), as_json=False)


async def _work(conveyor: object, drain_timeout: float) -> ExitCode:
    from ..app import Conveyor
    from ..runners.worker import WorkerRunner

    assert isinstance(conveyor, Conveyor)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await conveyor.open()
    try:
        err.print(f"worker {conveyor.worker_id} is taking runs; stop with Ctrl-C")
        await stop.wait()
        err.print("stopping: finishing runs in flight")
        runner = conveyor.runner
        if isinstance(runner, WorkerRunner):
            await runner.drain(drain_timeout)
    finally:
        await conveyor.aclose()
    return ExitCode.OK
