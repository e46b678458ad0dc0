"""`Database`: the platform's connection to its tables — PostgreSQL through the
async engine (asyncpg) or SQLite on a thread — and one transaction per unit of
work: every query is written once, as a function of a SQLAlchemy `Connection`,
run through `run_sync` on PostgreSQL and `asyncio.to_thread` on SQLite."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

T = TypeVar("T")
Work = Callable[[sa.Connection], T]


class Database:
    """One database of the platform.

    Args:
        url: a `postgresql://` or `sqlite:///` URL.
        pool_size: PostgreSQL connections kept (as many more may open).
        statement_cache: cache prepared statements per connection (off behind a
            transaction-mode pooler).
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        statement_cache: bool = True,
    ) -> None:
        from conveyor.migrations.runner import sqlalchemy_url

        self.url = url
        target = sqlalchemy_url(url)
        self.dialect = "postgresql" if target.startswith("postgresql") else "sqlite"
        self._async: AsyncEngine | None = None
        self._sync: sa.Engine | None = None
        self._lock = asyncio.Lock()  # SQLite has one writer: take turns here
        if self.dialect == "postgresql":
            # Prepared statements are cached per connection (half the round trips);
            # behind a transaction-mode pooler turn the cache off.
            cache: dict[str, Any] = {}
            if not statement_cache:
                cache = {
                    "statement_cache_size": 0,
                    "prepared_statement_cache_size": 0,
                    "prepared_statement_name_func": _statement_name,
                }
            self._async = create_async_engine(
                target,
                pool_size=pool_size,
                max_overflow=pool_size,
                pool_recycle=1800,
                connect_args=cache,
            )
        else:
            self._sync = sa.create_engine(
                target, connect_args={"check_same_thread": False, "timeout": 30}
            )
            sa.event.listen(self._sync, "connect", _sqlite_pragmas)
        self._opened = False
        self._opening = asyncio.Lock()

    async def open(self) -> None:
        """Bring the tables up to date (once per process)."""
        async with self._opening:
            if self._opened:
                return
            await self.transact(_migrate)
            self._opened = True

    async def aclose(self) -> None:
        """Release the connections."""
        if self._async is not None:
            await self._async.dispose()
        if self._sync is not None:
            self._sync.dispose()
        self._opened = False

    async def transact(self, work: Work[T]) -> T:
        """Run `work` in one transaction and return its result."""
        if self._async is not None:
            async with self._async.begin() as conn:
                return await conn.run_sync(work)
        assert self._sync is not None
        engine = self._sync

        def run() -> T:
            with engine.begin() as conn:
                return work(conn)

        async with self._lock:
            return await asyncio.to_thread(run)


def insert(conn: sa.Connection, table: sa.Table) -> Any:
    """An INSERT that can say ON CONFLICT DO NOTHING on this database."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _migrate(conn: sa.Connection) -> None:
    from . import migrations  # Alembic loads only when a database needs it

    with contextlib.suppress(sa.exc.DBAPIError, sa.exc.OperationalError):
        with conn.begin_nested():
            version = conn.execute(
                sa.text(f"SELECT version_num FROM {migrations.VERSION_TABLE}")
            ).scalar()
        if version == migrations.HEAD:
            return
    migrations.upgrade_connection(conn)


def _statement_name() -> str:
    return f"__ex_{uuid.uuid4().hex}__"


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
