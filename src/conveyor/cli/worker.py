"""`conveyor worker`: execute runs dispatched over NATS JetStream, sharing a
PostgreSQL store with any number of other workers and API servers.

`--queue NAME` (also spelled `--stage`, as the exception platform calls its
queues) limits a worker to the workflows of some queues, so each can be scaled on
its own. The exception platform's stages are registered when no `--app` is given
or a queue names one of them (`--stage triage`), unless `--no-exceptions`.
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
    queues: Annotated[
        list[str] | None,
        typer.Option(
            "--queue",
            "--stage",
            help="Take only the runs of workflows on this queue (repeatable), e.g. "
            "--stage triage for the exception platform's Triage stage. Default: "
            "every queue.",
            show_default=False,
        ),
    ] = None,
    no_exceptions: Annotated[
        bool,
        typer.Option(
            "--no-exceptions",
            help="Don't register the exception platform's stage workflows (by "
            "default they are, without --app or when a --stage names one).",
        ),
    ] = False,
) -> None:
    """Execute workflows dispatched over NATS. Needs CONVEYOR_STORE_URL=postgresql://…
    and CONVEYOR_BUS_URL=nats://…; start as many as you like."""
    conveyor = build_app(app_ref, examples=not no_examples)
    if not no_exceptions and _wants_exceptions(app_ref, queues or []):
        _register_exceptions(conveyor)
    if queues:
        known = {flow.queue for flow in conveyor.workflows.values()}
        unknown = sorted(set(queues) - known)
        if unknown:
            err.print(
                f"[bold red]error:[/] no workflow is on queue(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})"
            )
            raise typer.Exit(int(ExitCode.USAGE))
        conveyor.queues = frozenset(queues)
    if not conveyor.bus.distributes_runs:
        err.print(
            "[bold red]error:[/] a worker needs CONVEYOR_BUS_URL=nats://… and "
            "CONVEYOR_STORE_URL=postgresql://… (embedded mode runs workflows "
            "inside `conveyor serve`)"
        )
        raise typer.Exit(int(ExitCode.USAGE))
    execute(_work(conveyor, drain_timeout), as_json=False)


def _wants_exceptions(app_ref: str | None, queues: list[str]) -> bool:
    from conveyor_apps.exceptions.handoffs import Stage

    return app_ref is None or bool(set(queues) & {stage.value for stage in Stage})


def _register_exceptions(conveyor: object) -> None:
    """Add the exception platform's stages (unless the app has them already)."""
    from ..app import Conveyor
    from ..errors import ConfigurationError

    assert isinstance(conveyor, Conveyor)
    from conveyor_apps.exceptions.mount import register

    try:
        register(conveyor)
    except ConfigurationError as exc:  # e.g. the --app registered the same names
        err.print(f"[yellow]exception platform not registered:[/] {exc}")


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
        taking = ", ".join(sorted(conveyor.queues)) if conveyor.queues else "every"
        err.print(
            f"worker {conveyor.worker_id} is taking runs of {taking} queue(s); "
            "stop with Ctrl-C"
        )
        await stop.wait()
        err.print("stopping: finishing runs in flight")
        runner = conveyor.runner
        if isinstance(runner, WorkerRunner):
            await runner.drain(drain_timeout)
    finally:
        await conveyor.aclose()
    return ExitCode.OK
