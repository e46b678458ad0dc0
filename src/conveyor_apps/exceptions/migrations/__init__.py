"""Alembic migrations of the platform's tables, with a version table of their own
(`exceptions_alembic_version`) so they live beside the engine's in one database.

The platform migrates on open (serialized by an advisory lock on PostgreSQL);
`upgrade`, `downgrade` and `current` are for migrating ahead of a deployment
(`conveyor migrate upgrade` runs them after the engine's).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from conveyor.migrations import sqlalchemy_url

HERE = Path(__file__).parent
VERSION_TABLE = "exceptions_alembic_version"
HEAD = "e0001"
"""The newest revision: the platform skips Alembic when the database is there."""


def config() -> Config:
    """An Alembic config for these migrations (no alembic.ini)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    return cfg


def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def upgrade_connection(connection: sa.Connection, revision: str = "head") -> None:
    """Migrate through an open connection (the caller commits)."""
    cfg = config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def database_url(store_url: str) -> str:
    """The platform's database for an engine on `store_url` (the settings')."""
    from ..config import ExceptionsSettings

    return ExceptionsSettings().database_for(store_url)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` (a store URL) up to `revision`."""
    _with_connection(url, lambda conn: upgrade_connection(conn, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops the tables)."""

    def run(connection: sa.Connection) -> None:
        cfg = config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, revision)

    _with_connection(url, run)


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None if never migrated."""
    found: list[str | None] = []

    def read(connection: sa.Connection) -> None:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE}
        )
        found.append(context.get_current_revision())

    _with_connection(url, read)
    return found[0]


def _with_connection(url: str, work: Callable[[sa.Connection], None]) -> None:
    """Run `work` in a transaction on the database at `url`."""
    target = sqlalchemy_url(url)
    if target.startswith("postgresql+asyncpg"):
        asyncio.run(_with_async_connection(target, work))
        return
    engine = sa.create_engine(target, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            work(connection)
    finally:
        engine.dispose()


async def _with_async_connection(
    target: str, work: Callable[[sa.Connection], None]
) -> None:
    engine = create_async_engine(
        target, poolclass=NullPool, connect_args={"statement_cache_size": 0}
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(work)
    finally:
        await engine.dispose()


__all__ = [
    "HEAD",
    "VERSION_TABLE",
    "current",
    "database_url",
    "downgrade",
    "head",
    "upgrade",
    "upgrade_connection",
]
