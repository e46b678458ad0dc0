"""`PostgresStore`: the shared store of distributed mode, on PostgreSQL through
asyncpg and its pool (Alembic, through SQLAlchemy, only migrates).

As in `SqliteStore`, owners' write batches are applied in groups: one writer task
drains the queue and applies everything queued in one transaction with a few
array statements, fenced per run on the lease epoch. Everything else runs on a
pooled connection in a statement of its own. No session state is used (no
session locks or settings) and statements are kept prepared per connection unless
`prepared_statements=False`, so the store works behind a transaction-mode pooler
that tracks prepared statements, or any with them off. Dropped connections, idle
timeouts and server restarts are retried with backoff for `retry_s`. (A connection
lost during a COMMIT leaves its outcome unknown; a retried batch whose events did
land fails with `StoreError` rather than write them twice.)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import asyncpg
import sqlalchemy.exc

from ..clock import Clock, SystemClock
from ..errors import (
    DeadLetterNotFoundError,
    LeaseLostError,
    RunNotFoundError,
    StoreError,
)
from ..events import Event
from ..runs import RunRecord
from ..serde import dumps
from . import postgres_sql as sql
from . import sqlite_sql as rows
from .base import DeadLetter, RunQuery, SignalRecord, StepRecord, Store, WriteBatch
from .batching import Coalescer, as_columns
from .postgres_groups import GroupPlan

T = TypeVar("T")
log = logging.getLogger(__name__)

PLAN_CACHE_MODES = frozenset({"force_custom_plan", "force_generic_plan", "auto"})
"""Values of PostgreSQL's `plan_cache_mode`. The store's default is
`force_custom_plan`: kept statements are planned for their parameters every
time. After five runs PostgreSQL may switch a prepared statement to a generic
plan, and for the array statements of claims and commit groups it can be far
worse: in one burst of 1,000 exceptions the batch claim took 13 ms a call
instead of 0.9 and the platform did 34 exceptions/s instead of 47. Planning
each time costs PostgreSQL some CPU at a steady rate."""

RETRYABLE_STATES = frozenset(
    {
        "40001",  # serialization_failure
        "40P01",  # deadlock_detected
        "53300",  # too_many_connections
        "55P03",  # lock_not_available
        "57P01",  # admin_shutdown (server restarting)
        "57P02",  # crash_shutdown
        "57P03",  # cannot_connect_now (server starting)
    }
)


@dataclass(frozen=True, slots=True)
class Claim:
    """The outcome of `claim_run`: the run now owned, or why not (`missing`,
    `ended`, `owned`, `key` — an earlier run of its key is unfinished — or
    `tenant` — the tenant's concurrency limit is reached)."""

    run: RunRecord | None
    refused: str | None = None
    crashed: bool = False
    """The previous owner still held the run (it died, or lost it) rather than
    releasing it cleanly."""


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message written with the state change it announces."""

    msg_id: str
    kind: str
    run_id: str
    data: dict[str, Any]
    attempts: int = 0


class PostgresStore(Store):
    """The distributed store.

    Args:
        url: `postgresql://user:password@host:port/database`.
        pool_size / max_overflow / pool_timeout_s: connection pool limits: at
            most `pool_size + max_overflow` connections, kept open once made (a
            connection opened per transaction is a new PostgreSQL process, a
            type introspection and a cold statement cache each time); a caller
            waits up to `pool_timeout_s` for one. asyncpg's pool rather than
            SQLAlchemy's: checking a connection out of SQLAlchemy's async pool
            costs about 130 µs of CPU (greenlets), which under a steady load
            was a tenth of a worker's CPU.
        retry_s: how long an operation keeps retrying a lost connection.
        migrate: bring the schema up to date on `open()`.
        outbox: write a dispatch message to the outbox with every new run (set
            when a bus relays it).
        prepared_statements: keep statements prepared on each connection: parsed
            once, then one round trip each instead of two (asyncpg prepares an
            uncached statement in a round trip of its own), and planned for
            their parameters each time (`plan_cache_mode`). Under a steady load
            it cut PostgreSQL's CPU per exception of the exception platform by
            a third. Turn it off behind a transaction-mode pooler that does not
            track named prepared statements (PgBouncer before 1.21, or
            `max_prepared_statements = 0`).
        plan_cache_mode: PostgreSQL's `plan_cache_mode` for kept statements,
            sent when a connection starts (`PLAN_CACHE_MODES`); None sends
            nothing, for a pooler that refuses startup parameters it does not
            track (PgBouncer without it in `track_extra_parameters`).
        clock: time-stamps writes; leases are decided by the caller's `now`.
    """

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 10,
        max_overflow: int = 0,
        pool_timeout_s: float = 30.0,
        retry_s: float = 30.0,
        migrate: bool = True,
        outbox: bool = False,
        prepared_statements: bool = True,
        plan_cache_mode: str | None = "force_custom_plan",
        clock: Clock | None = None,
    ) -> None:
        self.url = url
        self.clock = clock or SystemClock()
        self.retry_s = retry_s
        self.migrate = migrate
        self.outbox = outbox
        self.prepared_statements = prepared_statements
        if plan_cache_mode is not None and plan_cache_mode not in PLAN_CACHE_MODES:
            raise ValueError(
                f"plan_cache_mode {plan_cache_mode!r}: expected one of "
                f"{', '.join(sorted(PLAN_CACHE_MODES))}"
            )
        self.plan_cache_mode = plan_cache_mode
        self.pool_size = pool_size + max_overflow
        self.pool_timeout_s = pool_timeout_s
        self.pool: asyncpg.Pool | None = None
        self._queue: asyncio.Queue[tuple[WriteBatch, asyncio.Future[None]]] | None = (
            None
        )
        self._writer_task: asyncio.Task[None] | None = None
        self._creates: Coalescer[tuple[RunRecord, Event], tuple[RunRecord, bool]] = (
            Coalescer(self._create_runs, "pg-creates")
        )
        self._claims: Coalescer[tuple[str, str, float, float], Claim | None] = (
            Coalescer(self._claim_batch, "pg-claims")
        )
        self._reads: Coalescer[str, RunRecord | None] = Coalescer(
            self._read_runs, "pg-reads"
        )
        self.commits = 0

    # lifecycle -----------------------------------------------------------------
    async def open(self) -> None:
        from ..migrations import asyncpg_dsn

        self.pool = asyncpg.create_pool(
            asyncpg_dsn(self.url),
            min_size=0,  # connections are made when first needed, then kept
            max_size=self.pool_size,
            max_inactive_connection_lifetime=1800,
            connection_class=_Connection,
            # A transaction-mode pooler hands each transaction to any server
            # connection: no named prepared statement may outlive one unless it
            # tracks them (PgBouncer >= 1.21, max_prepared_statements > 0).
            statement_cache_size=256 if self.prepared_statements else 0,
            server_settings=(
                {"plan_cache_mode": self.plan_cache_mode}
                if self.prepared_statements and self.plan_cache_mode
                else None
            ),
        )
        await self.pool
        if self.migrate:
            await self._retry(self._migrate)
        self._queue = asyncio.Queue()
        self._writer_task = asyncio.create_task(self._writer(), name="pg-writer")
        self._creates.start()
        self._claims.start()
        self._reads.start()

    async def _migrate(self) -> None:
        from .base import SCHEMA_REVISION

        async with self._connection() as conn:
            with contextlib.suppress(asyncpg.UndefinedTableError):
                if (
                    await conn.fetchval("SELECT version_num FROM alembic_version")
                    == SCHEMA_REVISION
                ):
                    return
        from sqlalchemy.ext.asyncio import create_async_engine
        from sqlalchemy.pool import NullPool

        from ..migrations import sqlalchemy_url, upgrade_connection

        engine = create_async_engine(sqlalchemy_url(self.url), poolclass=NullPool)
        try:
            async with engine.begin() as connection:
                await connection.run_sync(upgrade_connection)
        finally:
            await engine.dispose()

    async def aclose(self) -> None:
        await self._creates.aclose()
        await self._claims.aclose()
        await self._reads.aclose()
        if self._writer_task is not None:
            assert self._queue is not None
            await self._queue.join()
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task
            self._writer_task = None
        if self.pool is not None:
            pool, self.pool = self.pool, None
            try:  # connections still checked out are given a moment, then cut
                async with asyncio.timeout(5.0):
                    await pool.close()
            except TimeoutError:
                pool.terminate()

    # connections and retries ---------------------------------------------------
    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A pooled connection, waited for up to `pool_timeout_s`; dropped from
        the pool if it broke (the pool makes a new one when next needed)."""
        if self.pool is None:
            raise StoreError("the store is not open")
        try:
            async with asyncio.timeout(self.pool_timeout_s):
                conn: asyncpg.Connection = await self.pool.acquire()
        except TimeoutError:
            raise PoolExhaustedError(self.pool_size, self.pool_timeout_s) from None
        try:
            yield conn
        except BaseException as exc:
            if _broken(exc) or conn.is_closed():
                conn.terminate()
            raise
        finally:
            await self.pool.release(conn)

    async def _retry(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run `operation`, retrying lost connections for up to `retry_s`;
        foreign errors become `StoreError`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.retry_s
        pause = 0.05
        while True:
            try:
                with self.clock.hold():  # real I/O: a virtual clock must not jump
                    return await operation()
            except (LeaseLostError, RunNotFoundError, DeadLetterNotFoundError):
                raise
            except Exception as exc:
                if not _transient(exc) or loop.time() + pause > deadline:
                    raise _translate(exc) from exc
                log.warning("PostgreSQL unavailable (%s); retrying", exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async def run() -> list[Any]:
            async with self._connection() as conn:
                return list(await conn.fetch(query, *args))

        return await self._retry(run)

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        async def run() -> Any:
            async with self._connection() as conn:
                return await conn.fetchrow(query, *args)

        return await self._retry(run)

    # the writer ----------------------------------------------------------------
    def submit_write(self, batch: WriteBatch) -> asyncio.Future[None]:
        if self._queue is None:
            raise StoreError("the store is not open")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((batch, future))
        return future

    async def write(self, batch: WriteBatch) -> None:
        await self.submit_write(batch)

    async def _writer(self) -> None:
        assert self._queue is not None
        while True:
            items = [await self._queue.get()]
            while not self._queue.empty():
                items.append(self._queue.get_nowait())
            try:
                with self.clock.hold():
                    outcomes = await self._apply_group([b for b, _ in items])
            except Exception as exc:  # the group failed as a whole: apply one by one
                outcomes = [await self._apply_alone(batch) for batch, _ in items]
                log.debug("commit group failed (%s); applied its batches alone", exc)
            for (_, future), outcome in zip(items, outcomes, strict=True):
                if not future.done():
                    if outcome is None:
                        future.set_result(None)
                    else:
                        future.set_exception(outcome)
                self._queue.task_done()

    async def _apply_alone(self, batch: WriteBatch) -> Exception | None:
        try:
            return (await self._apply_group([batch]))[0]
        except Exception as exc:
            return _translate(exc)

    async def _apply_group(self, batches: list[WriteBatch]) -> list[Exception | None]:
        now = self.clock.now()
        plan = GroupPlan(batches, now)

        async def run() -> set[tuple[str, int]]:
            async with self._connection() as conn:
                if plan.simple:
                    applied = await plan.apply_simple(conn)
                else:
                    async with conn.transaction():
                        applied = await plan.apply(conn, self.outbox)
            self.commits += 1
            return applied

        applied = await self._retry(run)
        return [
            None
            if (batch.run_id, batch.epoch) in applied
            else LeaseLostError(batch.run_id, batch.epoch)
            for batch in batches
        ]

    # runs ----------------------------------------------------------------------
    async def create_run(self, run: RunRecord, event: Event) -> tuple[RunRecord, bool]:
        run.last_seq = event.seq
        return await self._creates((run, event))

    async def _create_runs(
        self, items: list[tuple[RunRecord, Event]]
    ) -> list[tuple[RunRecord, bool] | BaseException]:
        """Insert a batch of new runs with one statement; a run whose id or
        idempotency key exists comes back as the existing run, not created."""
        messages = [
            (dispatch_id(run.id, event.seq), run.id,
             dumps(dispatch_data(run)), run.created_at)
            for run, event in items
        ] if self.outbox else []  # fmt: skip
        found = await self._fetch(
            sql.CREATE_RUNS,
            *as_columns([rows.run_params(run) for run, _ in items], 20),
            *as_columns([rows.event_params(event) for _, event in items], 10),
            *as_columns(messages, 4),
        )
        created = {row[0]: row[1] for row in found}
        outcomes: list[tuple[RunRecord, bool] | BaseException] = []
        for run, _ in items:
            if run.id in created:
                run.submit_seq = created[run.id]
                outcomes.append((run, True))
                continue
            try:
                outcomes.append((await self._existing(run), False))
            except StoreError as exc:
                outcomes.append(exc)
        return outcomes

    async def _existing(self, run: RunRecord) -> RunRecord:
        """The stored run that a new one clashed with (same id or idempotency key)."""
        if run.idempotency_key is not None:
            found = await self._fetchrow(
                sql.SELECT_RUN_BY_IDEMPOTENCY, run.tenant, run.idempotency_key
            )
        else:
            found = await self._fetchrow(sql.SELECT_RUN, run.id)
        if found is None:
            raise StoreError(f"run {run.id} was neither created nor found")
        return rows.run_from_row(found)

    async def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord:
        run = await self._reads(run_id)
        if run is None:
            raise RunNotFoundError(run_id)
        if tenant is not None and run.tenant != tenant:
            raise RunNotFoundError(run_id)
        return run

    async def _read_runs(self, run_ids: list[str]) -> list[RunRecord | None]:
        """Runs read at the same time, with one statement."""
        found = await self._fetch(sql.SELECT_RUNS, list(set(run_ids)))
        by_id = {row[0]: row for row in found}
        return [
            rows.run_from_row(by_id[run_id]) if run_id in by_id else None
            for run_id in run_ids
        ]

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        text, params = rows.list_runs_query(query)
        return [
            rows.run_from_row(r) for r in await self._fetch(sql.numbered(text), *params)
        ]

    async def unfinished_runs(self) -> list[RunRecord]:
        return [rows.run_from_row(r) for r in await self._fetch(sql.SELECT_UNFINISHED)]

    async def request_cancel(self, run_id: str) -> None:
        if await self._fetchrow(sql.REQUEST_CANCEL, run_id) is None:
            raise RunNotFoundError(run_id)

    # leases --------------------------------------------------------------------
    async def acquire_lease(
        self, run_id: str, owner: str, now: float, ttl_s: float, *, force: bool = False
    ) -> RunRecord | None:
        row = await self._fetchrow(sql.ACQUIRE_LEASE, run_id, owner, now, ttl_s, force)
        return None if row is None else rows.run_from_row(row)

    async def renew_leases(
        self, owner: str, leases: Sequence[tuple[str, int]], expires_at: float
    ) -> list[str]:
        held = await self.renew_and_check(owner, leases, expires_at)
        return [run_id for run_id, _ in leases if run_id not in held]

    async def renew_and_check(
        self, owner: str, leases: Sequence[tuple[str, int]], expires_at: float
    ) -> dict[str, bool]:
        """Extend the leases still held; return them with their cancel flag."""
        if not leases:
            return {}
        ids = [run_id for run_id, _ in leases]
        epochs = [epoch for _, epoch in leases]
        found = await self._fetch(sql.RENEW_LEASES, expires_at, owner, ids, epochs)
        return {row[0]: bool(row[1]) for row in found}

    async def claim_run(
        self,
        run_id: str,
        owner: str,
        now: float,
        ttl_s: float,
        *,
        tenant: str | None = None,
        tenant_limit: int | None = None,
    ) -> Claim:
        """Take a run to execute it — only if no earlier run of its key is
        unfinished and (with `tenant_limit`) its tenant holds fewer leases than
        that — and drop its dispatch message from the outbox. Claims without a
        tenant limit made at the same time share one statement."""
        if tenant_limit is None or tenant is None:
            taken = await self._claims((run_id, owner, now, ttl_s))
            if taken is not None:
                return taken
            return await self._refusal(run_id, now)

        row = await self._fetchrow(
            sql.CLAIM_RUN_LIMITED, run_id, owner, now, ttl_s, tenant, tenant_limit
        )
        if row[0] is not None:
            return _claimed(row)
        if row[-1] >= tenant_limit:
            return Claim(None, "tenant")
        return await self._refusal(run_id, now)

    async def _refusal(self, run_id: str, now: float) -> Claim:
        """Why a run could not be claimed."""
        current = await self._fetchrow(sql.SELECT_RUN, run_id)
        if current is None:
            return Claim(None, "missing")
        existing = rows.run_from_row(current)
        if existing.status.is_terminal:
            return Claim(existing, "ended")
        if existing.owner is not None and existing.lease_expires_at >= now:
            return Claim(existing, "owned")
        return Claim(existing, "key")

    async def _claim_batch(
        self, items: list[tuple[str, str, float, float]]
    ) -> list[Claim | None]:
        """Claims queued together, one statement per owner and lease length — in
        practice one: a worker's claims of one moment, decided at the latest of
        their times."""
        outcomes: dict[int, Claim | None] = {}
        by_terms: dict[tuple[str, float], list[int]] = {}
        for index, (_, owner, _, ttl_s) in enumerate(items):
            by_terms.setdefault((owner, ttl_s), []).append(index)
        for (owner, ttl_s), indexes in by_terms.items():
            ids = [items[i][0] for i in indexes]
            now = max(items[i][2] for i in indexes)
            found = await self._fetch(sql.CLAIM_RUNS, ids, owner, now, ttl_s)
            taken = {row[0]: _claimed(row) for row in found}
            for i in indexes:
                outcomes[i] = taken.get(items[i][0])
        return [outcomes[i] for i in range(len(items))]

    async def next_in_key(self, tenant: str, key: str) -> tuple[str, str] | None:
        """The earliest unfinished run of a key (id and workflow), if any."""
        row = await self._fetchrow(sql.NEXT_IN_KEY, tenant, key)
        return None if row is None else (str(row[0]), str(row[1]))

    async def release_leases(
        self, owner: str, leases: Sequence[tuple[str, int]]
    ) -> list[str]:
        """Let other workers take these runs at once (a worker shutting down)."""
        if not leases:
            return []
        ids = [run_id for run_id, _ in leases]
        epochs = [epoch for _, epoch in leases]
        return [r[0] for r in await self._fetch(sql.RELEASE_LEASES, owner, ids, epochs)]

    async def cancel_flags(self, run_ids: Sequence[str]) -> set[str]:
        """Which of these runs someone asked to cancel."""
        if not run_ids:
            return set()
        return {r[0] for r in await self._fetch(sql.CANCEL_FLAGS, list(run_ids))}

    async def expired_runs(
        self, now: float, limit: int = 100, *, owner: str | None = None
    ) -> list[RunRecord]:
        """Unfinished runs taken once whose lease has expired or was released (a
        dead or stopped worker's), and with `owner`, that owner's runs too (a
        worker restarted under its id)."""
        return [
            rows.run_from_row(r)
            for r in await self._fetch(sql.EXPIRED_RUNS, now, limit, owner)
        ]

    # outbox --------------------------------------------------------------------
    async def due_outbox(
        self, now: float, grace_s: float, repeat_s: float, limit: int = 100
    ) -> list[OutboxMessage]:
        """Outbox messages older than `grace_s` not (re)published in the last
        `repeat_s`; marked as published now. Due messages of ended runs are
        dropped."""
        from ..serde import loads

        found = await self._fetch(sql.CLAIM_OUTBOX, now, grace_s, repeat_s, limit)
        return [OutboxMessage(r[0], r[1], r[2], loads(r[3]), r[4]) for r in found]

    async def hold_dispatches(self, run_ids: Sequence[str], at: float | None) -> None:
        """Tell the relay that a worker holds these runs, waiting for their turn,
        as of `at`: their dispatch messages count as sent then, so they are not
        sent again for `repeat_s` (a worker renews this while it holds them).
        `None` gives them back: the relay sends them at its next round."""
        if run_ids:
            await self._fetch(sql.HOLD_DISPATCHES, list(run_ids), at)

    async def outbox_size(self) -> int:
        """Messages waiting in the outbox."""
        row = await self._fetchrow("SELECT count(*) FROM outbox")
        return int(row[0])

    # owner writes --------------------------------------------------------------
    async def load_steps(self, run_id: str) -> dict[int, StepRecord]:
        found = await self._fetch(sql.SELECT_STEPS, run_id)
        return {row[1]: rows.step_from_row(row) for row in found}

    # events --------------------------------------------------------------------
    async def read_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[Event]:
        found = await self._fetch(sql.SELECT_EVENTS, run_id, after_seq, limit)
        return [rows.event_from_row(row) for row in found]

    async def compact_events(self, run_id: str, upto_seq: int) -> int:
        async def run() -> int:
            async with self._connection() as conn:
                status = await conn.execute(sql.DELETE_EVENTS_UPTO, run_id, upto_seq)
            return int(status.rsplit(" ", 1)[-1])

        return await self._retry(run)

    # signals -------------------------------------------------------------------
    async def add_signal(self, run_id: str, name: str, payload: Any, now: float) -> int:
        row = await self._fetchrow(sql.INSERT_SIGNAL, run_id, name, dumps(payload), now)
        if row is None:
            raise RunNotFoundError(run_id)
        return int(row[0])

    async def pending_signals(self, run_id: str, name: str) -> list[SignalRecord]:
        found = await self._fetch(sql.SELECT_PENDING_SIGNALS, run_id, name)
        return [rows.signal_from_row(row) for row in found]

    # dead letters --------------------------------------------------------------
    async def list_dead_letters(
        self, tenant: str | None, limit: int = 50, include_replayed: bool = False
    ) -> list[DeadLetter]:
        text, params = rows.list_dead_letters_query(tenant, limit, include_replayed)
        found = await self._fetch(sql.numbered(text), *params)
        return [rows.dead_letter_from_row(row) for row in found]

    async def get_dead_letter(
        self, dead_letter_id: str, tenant: str | None = None
    ) -> DeadLetter:
        row = await self._fetchrow(sql.SELECT_DEAD_LETTER, dead_letter_id)
        if row is None:
            raise DeadLetterNotFoundError(dead_letter_id)
        letter = rows.dead_letter_from_row(row)
        if tenant is not None and letter.tenant != tenant:
            raise DeadLetterNotFoundError(dead_letter_id)
        return letter


def _claimed(row: Any) -> Claim:
    """A claim from a `CLAIM_RUN(S)` row (the run's columns, then its previous
    owner)."""
    taken = rows.run_from_row(row)
    return Claim(taken, crashed=row[21] is not None and taken.status.is_active)


def dispatch_id(run_id: str, seq: int) -> str:
    """The message id of a run's dispatch after event `seq` (a submission or a
    replay): the same on every retry, so the broker drops duplicates."""
    return f"run.{run_id}.{seq}"


def dispatch_data(run: RunRecord) -> dict[str, Any]:
    """What a worker needs to route a dispatched run."""
    return {"tenant": run.tenant, "key": run.key, "workflow": run.workflow}


def _broken(exc: BaseException) -> bool:
    """Whether `exc` means the connection is unusable."""
    return isinstance(
        exc,
        OSError
        | asyncpg.ConnectionDoesNotExistError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.InternalClientError  # e.g. the server's goodbye arrived idle
        | ConnectionError,
    ) or (
        isinstance(exc, asyncpg.PostgresError)
        and getattr(exc, "sqlstate", None) in ("57P01", "57P02")
    )


def _transient(exc: BaseException) -> bool:
    """Whether retrying `exc` on a fresh connection may succeed."""
    if _broken(exc) or isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, asyncpg.InvalidCachedStatementError):
        # A migration changed what a kept statement returns; asyncpg has dropped
        # it (and retries it itself outside a transaction): prepare it again.
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return getattr(exc, "sqlstate", None) in RETRYABLE_STATES
    if isinstance(exc, sqlalchemy.exc.DBAPIError):  # connecting failed
        return exc.connection_invalidated or isinstance(
            exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError
        )
    return isinstance(exc, PoolExhaustedError)


class _Connection(asyncpg.Connection):  # type: ignore[misc]
    """A pooled connection handed back without the pool's reset query (a round
    trip per release): the store keeps no session state and ends its own
    transactions. One left open (a cancelled operation) is still rolled back."""

    def get_reset_query(self) -> str:
        return ""


class PoolExhaustedError(StoreError):
    """No connection of the pool came free in time (retried like a lost one)."""

    def __init__(self, size: int, timeout_s: float) -> None:
        super().__init__(
            f"no PostgreSQL connection free in the pool ({size} connections) "
            f"within {timeout_s:g} s: raise pool_size or pool_timeout in the store "
            "URL, or lower the work each process takes at once"
        )


def _translate(exc: BaseException) -> Exception:
    """Foreign errors become conveyor errors at the boundary."""
    if isinstance(exc, StoreError | LeaseLostError):
        return exc
    return StoreError(f"PostgreSQL: {type(exc).__name__}: {exc}")
