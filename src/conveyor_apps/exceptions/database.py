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
POOL_TIMEOUT_S = 300.0
"""How long a unit of work may wait for a pooled connection (a burst of
thousands of events queues here rather than failing its steps)."""
Work = Callable[[sa.Connection], T]


class Database:
    """One database of the platform.

    Args:
        url: a `postgresql://` or `sqlite:///` URL.
        pool_size: PostgreSQL connections (a fixed pool: no more open).
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
            # A fixed pool: a worker runs many stage steps at once, and
            # connections opened past the pool for a burst and closed after one
            # transaction cost a server process, a type introspection and every
            # prepared statement each time — far more than waiting for a pooled
            # one, as transactions here take a millisecond or two.
            self._async = create_async_engine(
                target,
                pool_size=pool_size,
                max_overflow=0,
                pool_timeout=POOL_TIMEOUT_S,
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

    @property
    def single_statements(self) -> bool:
        """Whether units of work may run as one statement (`statement`)."""
        return self._async is not None

    async def statement(self, query: str, *args: Any) -> Any:
        """The first row (or None) of one PostgreSQL statement run on its own —
        its own transaction, one round trip — on the driver's connection, whose
        prepared statements are cached by query text."""
        assert self._async is not None
        async with self._async.connect() as wrapper:
            raw = await wrapper.get_raw_connection()
            conn: Any = raw.driver_connection
            try:
                return await conn.fetchrow(query, *args)
            except BaseException:
                if conn.is_closed():  # never hand a dead connection out again
                    await wrapper.invalidate()
                raise

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
