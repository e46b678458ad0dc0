"""`conveyor runs`: list, inspect, cancel, signal and query runs on a server."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from ..events import Event
from .common import (
    ApiKeyOption,
    JsonOption,
    UrlOption,
    client,
    err,
    execute,
    out,
    parse_input,
    print_fields,
    print_json,
    print_table,
    when,
)
from .exits import EPILOG, ExitCode
from .render import describe

runs_app = typer.Typer(
    help="List and inspect runs; cancel, signal and query them.",
    no_args_is_help=True,
)

RunIdArgument = Annotated[str, typer.Argument(help="The run's id.")]


@runs_app.command("list", epilog=EPILOG)
def list_runs(
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only runs in this status (pending, running, retrying, completed, "
            "failed, cancelled, dead).",
            show_default=False,
        ),
    ] = None,
    workflow: Annotated[
        str | None,
        typer.Option(
            "--workflow", help="Only runs of this workflow.", show_default=False
        ),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            "--key", help="Only runs with this ordering key.", show_default=False
        ),
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", min=1, max=200, help="At most this many runs.")
    ] = 20,
    cursor: Annotated[
        str | None,
        typer.Option(
            "--cursor",
            help="Continue after the page that returned this next_cursor.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first."""

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            page = await conveyor.list_runs(
                status=status, workflow=workflow, key=key, limit=limit, cursor=cursor
            )
        if as_json:
            print_json(page)
            return ExitCode.OK
        rows = [
            [
                str(item.get("run_id")),
                str(item.get("workflow")),
                str(item.get("status")),
                str(item.get("key") or ""),
                when(item.get("created_at")),
                when(item.get("updated_at")),
            ]
            for item in page.get("items", [])
        ]
        columns = ["run id", "workflow", "status", "key", "created", "updated"]
        print_table(columns, rows, full=frozenset({"run id"}))
        if page.get("next_cursor"):
            err.print(f"more: --cursor {page['next_cursor']}")
        return ExitCode.OK

    execute(work(), as_json=as_json)


@runs_app.command("show", epilog=EPILOG)
def show_run(
    run_id: RunIdArgument,
    events: Annotated[
        bool, typer.Option("--events", help="Also list the run's events so far.")
    ] = False,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show one run: status, input, output or error, and optionally its events."""

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            run = await conveyor.get_run(run_id)
            history = await conveyor.history(run_id) if events else None
        if as_json:
            body = dict(run)
            if history is not None:
                body["events"] = [event.to_dict() for event in history]
            print_json(body)
            return ExitCode.OK
        print_fields(_run_fields(run))
        if history is not None:
            out.print()
            print_table(
                ["seq", "time", "type", "step", "attempt", "detail"],
                [_event_row(event) for event in history],
            )
        return ExitCode.OK

    execute(work(), as_json=as_json)


@runs_app.command("cancel", epilog=EPILOG)
def cancel_run(
    run_id: RunIdArgument,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Ask a run to stop (a running step is first asked to stop, then preempted)."""

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            run = await conveyor.cancel(run_id)
        if as_json:
            print_json(run)
        else:
            status = run.get("status")
            if status == "cancelled":
                err.print(f"run {run_id} is cancelled")
            else:
                err.print(f"run {run_id}: cancel requested (it is {status})")
        return ExitCode.OK

    execute(work(), as_json=as_json)


@runs_app.command("signal", epilog=EPILOG)
def signal_run(
    run_id: RunIdArgument,
    name: Annotated[str, typer.Argument(help="The signal's name.")],
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload",
            "-p",
            help="Signal payload: JSON text, @file.json, or @- to read stdin. "
            "Default: {}.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send a signal to a run (it waits until the run consumes it)."""
    data = parse_input(payload)

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            answer = await conveyor.signal(run_id, name, data)
        if as_json:
            print_json(answer)
        else:
            err.print(f"signal {name!r} sent to run {run_id}")
        return ExitCode.OK

    execute(work(), as_json=as_json)


@runs_app.command("query", epilog=EPILOG)
def query_run(
    run_id: RunIdArgument,
    name: Annotated[str, typer.Argument(help="The query's name.")],
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """Print the value a run publishes under a query name."""

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            value = await conveyor.query(run_id, name)
        print_json({"name": name, "value": value} if as_json else value)
        return ExitCode.OK

    execute(work(), as_json=as_json)


def _compact(value: Any, limit: int = 400) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run_fields(run: dict[str, Any]) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = [
        ("run id", str(run.get("run_id"))),
        ("workflow", str(run.get("workflow"))),
        ("status", str(run.get("status"))),
    ]
    rows += [
        (field.replace("_", " "), str(run[field]))
        for field in ("key", "idempotency_key", "session_id", "parent_run_id")
        if run.get(field)
    ]
    rows += [
        ("created", when(run.get("created_at"))),
        ("updated", when(run.get("updated_at"))),
        ("events", str(run.get("last_seq", "-"))),
        ("input", _compact(run.get("input"))),
    ]
    if run.get("status") == "completed":
        rows.append(("output", _compact(run.get("output"))))
    error = run.get("error")
    if isinstance(error, dict):
        where = f" (step {error['step']})" if error.get("step") else ""
        rows.append(
            (
                "error",
                f"{error.get('type', 'Error')}: {error.get('message', '')}{where}",
            )
        )
    return rows


def _event_row(event: Event) -> list[str]:
    detail = describe(event) or (_compact(event.data, 80) if event.data else "")
    return [
        str(event.seq),
        when(event.timestamp).split(" ")[-1],
        event.type,
        event.step or "",
        str(event.attempt or ""),
        detail,
    ]
