"""Running the migrations: a programmatic Alembic config (no alembic.ini) pointed
at this package, on a URL or on a connection a store already holds."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from ..errors import ConfigurationError

HERE = Path(__file__).parent
CONVEYOR_OPTIONS = frozenset(
    {
        "synchronous",
        "pool_size",
        "max_overflow",
        "pool_timeout",
        "migrate",
        "outbox",
        "prepared_statements",
        "plan_cache_mode",
    }
)
"""Query parameters of a store URL that are ours, not the database driver's."""


def sqlalchemy_url(url: str) -> str:
    """The SQLAlchemy form of a store URL: PostgreSQL through asyncpg, SQLite
    through the standard library, without conveyor's own query options."""
    parts = urlsplit(url)
    scheme = parts.scheme.split("+", 1)[0]
    if scheme in ("postgres", "postgresql"):
        scheme = "postgresql+asyncpg"
    elif scheme != "sqlite":
        raise ConfigurationError(
            f"cannot migrate {parts.scheme!r} URLs (expected sqlite:// or postgresql://)"
        )
    query = [(k, v) for k, v in parse_qsl(parts.query) if k not in CONVEYOR_OPTIONS]
    if scheme == "sqlite":  # urlunsplit would eat the empty host of sqlite:///
        return f"sqlite://{parts.netloc}{parts.path}" + (
            f"?{urlencode(query)}" if query else ""
        )
    return urlunsplit(parts._replace(scheme=scheme, query=urlencode(query)))


def asyncpg_dsn(url: str) -> str:
    """The asyncpg form of a PostgreSQL store URL, without conveyor's own query
    options (asyncpg would send unknown ones to the server as settings)."""
    return urlunsplit(urlsplit(sqlalchemy_url(url))._replace(scheme="postgresql"))


def config(url: str | None = None) -> Config:
    """An Alembic config for our migrations (URL defaults to the settings')."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", sqlalchemy_url(url).replace("%", "%%"))
    return cfg


def head() -> str:
    """The newest revision."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at `url` up to `revision`."""
    _on_url(url, lambda cfg: command.upgrade(cfg, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at `url` down to `revision` ("base" drops all)."""
    _on_url(url, lambda cfg: command.downgrade(cfg, revision))


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None if never migrated."""
    found: list[str | None] = []

    def read(connection: sa.Connection) -> None:
        found.append(MigrationContext.configure(connection).get_current_revision())

    _with_connection(url, read)
    return found[0]


def upgrade_connection(connection: sa.Connection, revision: str = "head") -> None:
    """Migrate through an open connection (the caller commits)."""
    cfg = config()
    cfg.attributes["connection"] = connection
    command.upgrade(cfg, revision)


def _on_url(url: str, action: Any) -> None:
    def run(connection: sa.Connection) -> None:
        cfg = config()
        cfg.attributes["connection"] = connection
        action(cfg)

    _with_connection(url, run)


def _with_connection(url: str, fn: Any) -> None:
    target = sqlalchemy_url(url)
    if target.startswith("postgresql+asyncpg"):
        asyncio.run(_with_async_connection(target, fn))
        return
    engine = sa.create_engine(target, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            fn(connection)
    finally:
        engine.dispose()


async def _with_async_connection(target: str, fn: Any) -> None:
    engine = create_async_engine(
        target, poolclass=NullPool, connect_args={"statement_cache_size": 0}
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(fn)
    finally:
        await engine.dispose()
