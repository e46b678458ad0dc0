"""The `conveyor` command line: `serve` the API, `run` a workflow with a live
progress bar, inspect `runs`, manage the dead-letter queue (`dlq`), and plan a
`season` (reference system 1).

Exit codes are listed in `conveyor.cli.exits` and at the end of every `--help`.
"""

from __future__ import annotations

import typer

from .dlq import dlq_app
from .exits import EPILOG, ExitCode
from .migrate import migrate_app
from .run import run
from .runs import runs_app
from .season import season_app
from .serve import serve
from .servers import servers_app
from .worker import worker

__all__ = ["ExitCode", "app", "main"]

app = typer.Typer(
    name="conveyor",
    help="Durable, observable orchestration of agent and worker pipelines.",
    epilog=EPILOG,
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,  # locals may hold API keys
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.command("serve", epilog=EPILOG)(serve)
app.command("run", epilog=EPILOG)(run)
app.command("worker", epilog=EPILOG)(worker)
app.add_typer(runs_app, name="runs", epilog=EPILOG)
app.add_typer(dlq_app, name="dlq", epilog=EPILOG)
app.add_typer(season_app, name="season")
app.add_typer(migrate_app, name="migrate", epilog=EPILOG)
app.add_typer(servers_app, name="servers", epilog=EPILOG)


def main() -> None:
    """Entry point of the `conveyor` script."""
    app()
