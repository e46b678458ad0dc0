"""`conveyor season plan`: plan a selling season from plain words, on a server or in
this process, with each agent's progress shown live.

Only the options live here; the command itself is `conveyor_apps.season.cli`,
imported when it runs so `conveyor --help` stays quick.
"""

from __future__ import annotations

from typing import Annotated

import typer

from .common import ApiKeyOption, JsonOption, TimeoutOption, execute
from .exits import EPILOG

season_app = typer.Typer(
    help="Season planning (reference system 1): a strategy in plain words becomes "
    "a demand forecast and an inventory plan.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@season_app.command("plan", epilog=EPILOG)
def plan(
    strategy: Annotated[
        str,
        typer.Argument(
            help='The season in plain words, e.g. "12-week season starting March 1 '
            '2025, no replenishment, nothing held back at the DC".',
            show_default=False,
        ),
    ],
    category: Annotated[
        str,
        typer.Option(
            "--category",
            "-c",
            help="Product category with sales history, e.g. CAT001.",
            show_default=False,
        ),
    ],
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            envvar="CONVEYOR_URL",
            help="A conveyor server with season planning (`conveyor serve`). "
            "Without it the plan runs in this process on CONVEYOR_STORE_URL.",
            show_envvar=True,
            show_default=False,
        ),
    ] = None,
    api_key: ApiKeyOption = None,
    timeout: TimeoutOption = None,
    as_json: JsonOption = False,
) -> None:
    """Plan a season: parameters → context → demand → inventory. Prints the plan;
    the exit code says how it went (2: the strategy or category is invalid, 4: no
    history for the category, 6: an agent or --timeout ran out)."""
    from conveyor_apps.season.cli import plan_season

    execute(
        plan_season(
            strategy,
            category,
            url=url,
            api_key=api_key,
            timeout_s=timeout,
            as_json=as_json,
        ),
        as_json=as_json,
    )
