"""What every `conveyor` command shares: the connection options, the consoles (rich on
a terminal, plain otherwise), JSON input and output, and turning an error into a
message and an exit code."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Coroutine
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..client import ClientError, ConveyorClient
from ..errors import ConveyorError
from .exits import ExitCode, for_error

DEFAULT_URL = "http://127.0.0.1:8000"

UrlOption = Annotated[
    str,
    typer.Option(
        "--url",
        envvar="CONVEYOR_URL",
        help="URL of the conveyor server.",
        show_envvar=True,
    ),
]
ApiKeyOption = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar="CONVEYOR_API_KEY",
        help="API key sent as X-API-Key (it selects your tenant).",
        show_envvar=True,
        show_default=False,
    ),
]
AdminKeyOption = Annotated[
    str | None,
    typer.Option(
        "--admin-key",
        envvar="CONVEYOR_ADMIN_KEY",
        help="Admin key sent as X-Admin-Key, for admin operations such as replay.",
        show_envvar=True,
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option(
        "--json", help="Print machine-readable JSON only (errors go to stderr)."
    ),
]
TimeoutOption = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        min=0.0,
        help="Give up waiting for the run after this many seconds (exit code 6).",
        show_default=False,
    ),
]

out = Console(highlight=False, soft_wrap=True)
"""Results: the data a command was asked for."""
err = Console(stderr=True, highlight=False, soft_wrap=True)
"""Progress, status and error messages."""


def execute(work: Coroutine[Any, Any, ExitCode], *, as_json: bool) -> NoReturn:
    """Run a command's coroutine and exit with the code it returns, or with the
    code of the error that stopped it (after saying what went wrong)."""
    try:
        code = asyncio.run(work)
    except KeyboardInterrupt:
        err.print("interrupted", style="yellow")
        code = ExitCode.INTERRUPTED
    except (ConveyorError, TimeoutError, OSError) as error:
        report_error(error, as_json=as_json)
        code = for_error(error)
    raise typer.Exit(int(code))


def report_error(error: BaseException, *, as_json: bool) -> None:
    """Tell the user what went wrong, on stderr."""
    if isinstance(error, TimeoutError) and not str(error):
        message = "timed out"
    else:
        message = str(error) if not isinstance(error, ClientError) else error.message
    if as_json:
        body: dict[str, Any] = {"error": type(error).__name__, "message": message}
        if isinstance(error, ClientError):
            body.update(
                error=error.error,
                status=error.status,
                request_id=error.request_id,
                details=error.error_details,
            )
        print(json.dumps(body), file=sys.stderr)
        return
    if isinstance(error, ClientError) and error.status is not None:
        request = f", request {error.request_id}" if error.request_id else ""
        message = f"{message} ({error.status} {error.error}{request})"
    err.print(f"[bold red]error:[/] {escape(message)}")


def client(
    url: str, api_key: str | None, admin_key: str | None = None
) -> ConveyorClient:
    """A `ConveyorClient` for the command's connection options."""
    return ConveyorClient(url, api_key=api_key, admin_key=admin_key)


def parse_input(raw: str | None) -> Any:
    """The workflow input from `--input`: JSON text, `@file.json` or `@-` (stdin);
    `{}` when not given."""
    if raw is None:
        return {}
    source = "--input"
    text = raw
    if raw.startswith("@"):
        name = raw[1:]
        source = "stdin" if name == "-" else name
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {name}: {exc.strerror}", param_hint="--input"
            ) from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise typer.BadParameter(
            f"{source} is not valid JSON: {exc}", param_hint="--input"
        ) from exc


def print_json(value: Any) -> None:
    """Print `value` as JSON on stdout (indented and coloured on a terminal)."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    if out.is_terminal:
        out.print_json(text)
    else:
        print(text)


def when(timestamp: Any) -> str:
    """A stored epoch timestamp as local time."""
    if not isinstance(timestamp, int | float):
        return "-"
    return datetime.fromtimestamp(timestamp).isoformat(sep=" ", timespec="seconds")


STATUS_STYLE = {
    "completed": "green",
    "running": "cyan",
    "retrying": "yellow",
    "pending": "dim",
    "failed": "red",
    "dead": "bold red",
    "cancelled": "magenta",
}
"""How each run status is coloured on a terminal."""


def print_table(
    columns: list[str], rows: list[list[str]], *, full: frozenset[str] = frozenset()
) -> None:
    """Print rows on stdout: a rich table on a terminal (the `full` columns, such as
    ids, are never cut short), aligned plain columns otherwise."""
    if out.is_terminal:
        table = Table(*columns)
        for column in table.columns:
            if column.header in full:
                column.no_wrap = True
                index = columns.index(str(column.header))
                column.min_width = max((len(row[index]) for row in rows), default=0)
        for row in rows:
            table.add_row(*(_styled(columns[i], cell) for i, cell in enumerate(row)))
        out.print(table)
        return
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    for line in [columns, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        print("  ".join(cells).rstrip())


def print_fields(rows: list[tuple[str, str]]) -> None:
    """Print name/value pairs on stdout, one per line."""
    if out.is_terminal:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        for name, value in rows:
            grid.add_row(name, _styled(name, value))
        out.print(grid)
        return
    width = max((len(name) for name, _ in rows), default=0)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")


def _styled(column: str, cell: str) -> str:
    text = escape(cell)
    if column == "status" and cell in STATUS_STYLE:
        return f"[{STATUS_STYLE[cell]}]{text}[/]"
    if column == "error" and cell:
        return f"[red]{text}[/]"
    return text
