"""`conveyor migrate`: bring a store's schema to a revision, or say which it is at.

Stores also migrate themselves when they open; run this to migrate ahead of a
deployment, or to step back after one (`downgrade`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import typer

from .common import err, out
from .exits import EPILOG, ExitCode

migrate_app = typer.Typer(
    help="Migrate the store's schema (SQLite or PostgreSQL) with Alembic.",
    no_args_is_help=True,
    epilog=EPILOG,
)

StoreUrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help="Store URL, e.g. postgresql://user@host/db or sqlite:///conveyor.db. "
        "Default CONVEYOR_STORE_URL.",
        show_default=False,
    ),
]


def _store_url(url: str | None) -> str:
    if url:
        return url
    from ..settings import Settings

    return Settings().store_url


def _attempt(action: Callable[[], Any]) -> Any:
    """Run a migration action; report a failure and exit with its code."""
    from alembic.util import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from ..errors import ConveyorError

    try:
        return action()
    except (CommandError, ConveyorError, ValueError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(int(ExitCode.USAGE)) from None
    except (SQLAlchemyError, OSError) as exc:
        err.print(f"[bold red]error:[/] cannot migrate: {exc}")
        raise typer.Exit(int(ExitCode.UNAVAILABLE)) from None


@migrate_app.command("upgrade", epilog=EPILOG)
def upgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision (default: the newest).")
    ] = "head",
    url: StoreUrlOption = None,
) -> None:
    """Migrate the schema up to REVISION."""
    from .. import migrations

    target = _store_url(url)
    _attempt(lambda: migrations.upgrade(target, revision))
    err.print(f"migrated to {_attempt(lambda: migrations.current(target))}")
    if revision == "head":  # the exception platform's tables, beside the engine's
        from conveyor_apps.exceptions import migrations as platform

        database = platform.database_url(target)
        _attempt(lambda: platform.upgrade(database))
        err.print(
            f"exception platform migrated to "
            f"{_attempt(lambda: platform.current(database))}"
        )


@migrate_app.command("downgrade", epilog=EPILOG)
def downgrade(
    revision: Annotated[
        str, typer.Argument(help="Target revision; `base` drops every table.")
    ],
    url: StoreUrlOption = None,
) -> None:
    """Migrate the schema down to REVISION."""
    from .. import migrations

    target = _store_url(url)
    _attempt(lambda: migrations.downgrade(target, revision))
    err.print(f"migrated to {_attempt(lambda: migrations.current(target)) or 'base'}")


@migrate_app.command("current", epilog=EPILOG)
def current(url: StoreUrlOption = None) -> None:
    """Print the revision the store is at (`none` if never migrated) and the
    newest one."""
    from .. import migrations

    target = _store_url(url)
    found = _attempt(lambda: migrations.current(target))
    out.print(f"{found or 'none'} (head {migrations.head()})")
