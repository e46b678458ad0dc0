"""`conveyor dlq`: list the dead-letter queue and replay what is in it."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..client import ClientError, ConveyorClient
from .common import (
    AdminKeyOption,
    ApiKeyOption,
    JsonOption,
    TimeoutOption,
    UrlOption,
    client,
    err,
    execute,
    out,
    print_json,
    print_table,
    when,
)
from .exits import EPILOG, ExitCode
from .render import view
from .run import finish

dlq_app = typer.Typer(
    help="The dead-letter queue: runs that exhausted their retries.",
    no_args_is_help=True,
)


@dlq_app.command("list", epilog=EPILOG)
def list_dead_letters(
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    as_json: JsonOption = False,
) -> None:
    """List dead letters not yet replayed, newest first."""

    async def work() -> ExitCode:
        async with client(url, api_key) as conveyor:
            items = await conveyor.dead_letters()
        if as_json:
            print_json({"items": items})
            return ExitCode.OK
        rows = [
            [
                str(item.get("id")),
                str(item.get("run_id")),
                str(item.get("workflow")),
                str(item.get("attempts", "")),
                when(item.get("created_at")),
                _error(item.get("error")),
            ]
            for item in items
        ]
        columns = ["id", "run id", "workflow", "attempts", "created", "error"]
        print_table(columns, rows, full=frozenset({"id", "run id"}))
        if not items:
            err.print("the dead-letter queue is empty")
        return ExitCode.OK

    execute(work(), as_json=as_json)


@dlq_app.command("replay", epilog=EPILOG)
def replay_dead_letter(
    dead_letter_id: Annotated[
        str, typer.Argument(help="The dead letter's id (see `conveyor dlq list`).")
    ],
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="Follow the replayed run to its end; exit by its outcome."
        ),
    ] = False,
    url: UrlOption = "http://127.0.0.1:8000",
    api_key: ApiKeyOption = None,
    admin_key: AdminKeyOption = None,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Replay a dead letter: its run resumes from the step that failed (steps that
    completed keep their results)."""

    async def work() -> ExitCode:
        async with client(url, api_key, admin_key) as conveyor:
            # Show only what the replay does, not the history that led to the letter.
            after = await _last_seq(conveyor, dead_letter_id) if wait else 0
            replayed = await conveyor.replay(dead_letter_id)
            run_id = str(replayed["run_id"])
            if not wait:
                if as_json:
                    print_json(replayed)
                else:
                    out.print(run_id)
                    err.print(f"replaying; follow it with: conveyor runs show {run_id}")
                return ExitCode.OK
            try:
                if as_json:
                    final = await conveyor.wait(run_id, after=after, timeout_s=timeout)
                else:
                    with view(err, f"replay {run_id[:8]}") as display:
                        final = await conveyor.wait(
                            run_id, after=after, timeout_s=timeout, on_event=display
                        )
            except TimeoutError as exc:
                if isinstance(exc, ClientError) or timeout is None:
                    raise
                raise TimeoutError(
                    f"replayed run {run_id} did not end within {timeout:g} s"
                ) from None
        return finish(final, as_json=as_json)

    execute(work(), as_json=as_json)


async def _last_seq(conveyor: ConveyorClient, dead_letter_id: str) -> int:
    """The last event of the letter's run before the replay."""
    letter = await conveyor.dead_letter(dead_letter_id)
    run = await conveyor.get_run(str(letter["run_id"]))
    return int(run.get("last_seq") or 0)


def _error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error or "")
    where = f" (step {error['step']})" if error.get("step") else ""
    return f"{error.get('type', 'Error')}: {error.get('message', '')}{where}"
