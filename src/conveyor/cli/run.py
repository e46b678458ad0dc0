"""`conveyor run`: start a workflow — on a server or in this process — and watch it
to the end with a live progress bar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.markup import escape

from ..client import ClientError
from ..events import Event
from .apps import AppOption, NoExamplesOption, build_app
from .common import (
    ApiKeyOption,
    JsonOption,
    TimeoutOption,
    UrlOption,
    client,
    err,
    execute,
    out,
    parse_input,
    print_json,
)
from .exits import ExitCode, for_status
from .render import view


def run(
    workflow: Annotated[str, typer.Argument(help="Name of the workflow to run.")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="Workflow input: JSON text, @file.json, or @- to read stdin. "
            "Default: {}.",
            show_default=False,
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key",
            help="Ordering key: runs with the same key run one at a time, in order.",
            show_default=False,
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key",
            help="Submitting this key again returns the first run instead of "
            "starting a new one.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Run in this process on the embedded store (CONVEYOR_STORE_URL); "
            "no server needed.",
        ),
    ] = False,
    app_ref: AppOption = None,
    no_examples: NoExamplesOption = False,
    no_wait: Annotated[
        bool,
        typer.Option("--no-wait", help="Print the run id and return without waiting."),
    ] = False,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Start a run of WORKFLOW and show its progress until it ends, then print its
    output. The exit code says how it ended."""
    data = parse_input(input)
    if local and no_wait:
        raise typer.BadParameter(
            "--no-wait needs a server: a local run ends with this process",
            param_hint="--no-wait",
        )
    if app_ref is not None and not local:
        raise typer.BadParameter(
            "--app only applies with --local (a server runs its own app)",
            param_hint="--app",
        )
    options: dict[str, Any] = {"key": key, "idempotency_key": idempotency_key}
    if local:
        work = _run_local(
            workflow, data, options, app_ref, not no_examples, timeout, as_json
        )
    else:
        work = _run_remote(
            workflow, data, options, url, api_key, no_wait, timeout, as_json
        )
    execute(work, as_json=as_json)


async def _run_remote(
    workflow: str,
    data: Any,
    options: dict[str, Any],
    url: str,
    api_key: str | None,
    no_wait: bool,
    timeout_s: float | None,
    as_json: bool,
) -> ExitCode:
    async with client(url, api_key) as conveyor:
        started = await conveyor.start_run(workflow, data, **options)
        run_id = str(started["run_id"])
        if no_wait:
            if as_json:
                print_json(started)
            else:
                out.print(run_id)
                err.print(f"follow it with: conveyor runs show {run_id} --events")
            return ExitCode.OK
        if not started.get("created", True) and not as_json:
            err.print(f"idempotency key already used: following run {run_id}")
        try:
            if as_json:
                final = await conveyor.wait(run_id, timeout_s=timeout_s)
            else:
                with view(err, workflow) as display:
                    final = await conveyor.wait(
                        run_id, timeout_s=timeout_s, on_event=display
                    )
        except TimeoutError as exc:
            if isinstance(exc, ClientError) or timeout_s is None:
                raise
            raise TimeoutError(
                f"run {run_id} did not end within {timeout_s:g} s; it carries on "
                f"(conveyor runs show {run_id})"
            ) from None
        except asyncio.CancelledError:
            err.print(f"run {run_id} carries on on the server")
            raise
    return finish(final, as_json=as_json)


async def _run_local(
    workflow: str,
    data: Any,
    options: dict[str, Any],
    app_ref: str | None,
    examples: bool,
    timeout_s: float | None,
    as_json: bool,
) -> ExitCode:
    app = build_app(app_ref, examples=examples)
    async with app:
        handle = await app.start(workflow, data, **options)

        async def watch(display: Callable[[Event], None] | None) -> None:
            async for event in handle.events():
                if display is not None:
                    display(event)

        try:
            async with asyncio.timeout(timeout_s):
                if as_json:
                    await watch(None)
                else:
                    with view(err, workflow) as display:
                        await watch(display)
        except TimeoutError as exc:
            if isinstance(exc, ClientError) or timeout_s is None:
                raise
            raise TimeoutError(
                f"run {handle.run_id} did not end within {timeout_s:g} s; it resumes "
                "the next time conveyor runs workflows on this store"
            ) from None
        except asyncio.CancelledError:
            err.print(
                f"run {handle.run_id} resumes the next time conveyor runs "
                "workflows on this store"
            )
            raise
        final = (await app.get_run(handle.run_id)).to_public()
    return finish(final, as_json=as_json)


def finish(run: dict[str, Any], *, as_json: bool) -> ExitCode:
    """Report how the run ended; its exit code."""
    status = run.get("status")
    if as_json:
        print_json(run)
        return for_status(status)
    run_id = run.get("run_id")
    if status == "completed":
        elapsed = _elapsed(run)
        err.print(f"[green]✓[/] run {run_id} completed{elapsed}")
        print_json(run.get("output"))
    elif status in ("failed", "dead"):
        error = run.get("error") or {}
        where = f" in step {error['step']}" if error.get("step") else ""
        reason = f"{error.get('type', 'Error')}: {error.get('message', '')}"
        err.print(f"[red]✗[/] run {run_id} failed{where}: {escape(reason)}")
        if status == "dead":
            err.print("it is in the dead-letter queue: conveyor dlq list")
    elif status == "cancelled":
        err.print(f"[magenta]run {run_id} was cancelled[/]")
    else:
        err.print(f"run {run_id} is {status}")
    return for_status(status)


def _elapsed(run: dict[str, Any]) -> str:
    start, end = run.get("created_at"), run.get("updated_at")
    if isinstance(start, int | float) and isinstance(end, int | float):
        return f" in {end - start:.2f} s"
    return ""
