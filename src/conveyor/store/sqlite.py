"""`SqliteStore`: the embedded store, one SQLite file in WAL mode.

All writes go through one writer that applies everything queued in one
transaction ("group commit"): with `synchronous=FULL` each commit is durable
against power loss and costs one fsync, so batching concurrent runs' checkpoints is
what makes thousands of durable steps per second possible. A fenced batch that is
refused writes nothing; any other failing operation makes the group replay with one
SAVEPOINT per operation, so it never undoes its neighbours.

The writer has two gears. Alone or nearly (a few writes at a time), a group is
applied and committed right on the event loop: a hop to a thread would cost more
than it saves. Under load, groups go to a commit thread and new writes follow them
there while it is busy, so the loop keeps running workflows while the thread
applies and fsyncs: the two cores overlap instead of taking turns. Writes keep
their order in both gears (see `_enqueue`). Point reads use a second connection
inline; large reads (a run's whole history, listings) run on a reader thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from ..clock import Clock, SystemClock
from ..errors import (
    ConfigurationError,
    DeadLetterNotFoundError,
    LeaseLostError,
    RunNotFoundError,
    StoreError,
)
from ..events import Event
from ..runs import RunRecord
from ..serde import dumps
from . import sqlite_sql as sql
from .base import (
    SCHEMA_REVISION,
    DeadLetter,
    RunQuery,
    SignalRecord,
    StepRecord,
    Store,
    WriteBatch,
)

T = TypeVar("T")


class PendingRows:
    """Event and checkpoint rows of a commit group, inserted with one `executemany`
    each at the end of the group instead of a few statements per write."""

    __slots__ = ("events", "steps")

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []
        self.steps: list[tuple[Any, ...]] = []

    def flush(self, cur: sqlite3.Cursor) -> None:
        """Insert what is pending."""
        if self.steps:
            cur.executemany(sql.UPSERT_STEP, self.steps)
            self.steps = []
        if self.events:
            cur.executemany(sql.INSERT_EVENT, self.events)
            self.events = []


WriteOp = Callable[[sqlite3.Cursor, PendingRows], Any]
"""A write, applied with the writer's cursor (one for every group: a cursor per
statement cost a fifth of a checkpoint's UPDATE)."""
Pending = tuple[WriteOp, "asyncio.Future[Any]"]

SYNCHRONOUS_LEVELS = ("OFF", "NORMAL", "FULL", "EXTRA")


class SqliteStore(Store):
    """The embedded store.

    Args:
        path: the database file (":memory:" is refused: the writer and reader
            connections must share a file).
        synchronous: SQLite's `synchronous` pragma. FULL (default) makes every
            commit durable against power loss; NORMAL survives a process crash but
            may lose the last commits on power loss.
        clock: used only to time-stamp; leases are decided by the caller's `now`.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: str = "FULL",
        clock: Clock | None = None,
    ) -> None:
        if str(path) == ":memory:":
            raise ConfigurationError("SqliteStore needs a file path, not ':memory:'")
        level = synchronous.upper()
        if level not in SYNCHRONOUS_LEVELS:
            raise ConfigurationError(f"synchronous must be one of {SYNCHRONOUS_LEVELS}")
        self.path = Path(path)
        self.synchronous = level
        self.clock = clock or SystemClock()
        self._loop: asyncio.AbstractEventLoop | None = None  # set while open
        self._waiting: list[Pending] = []  # for the next inline group
        self._flush_scheduled = False
        self._read_pool = ThreadPoolExecutor(1, thread_name_prefix="sqlite-reader")
        self.commit_offload_at = 16
        self._thread_gear = False  # new writes go to the commit thread
        self._handoff: queue.SimpleQueue[list[Pending] | None] = queue.SimpleQueue()
        self._committer: threading.Thread | None = None
        self._handed_off = 0  # writes the commit thread holds (loop thread only)
        self._thread_idle = asyncio.Event()
        self._clock_hold: contextlib.ExitStack | None = None
        self._write_conn: sqlite3.Connection | None = None
        self._write_cursor: sqlite3.Cursor | None = None
        self._read_conn: sqlite3.Connection | None = None
        self.commits = 0
        self.batches = 0

    # lifecycle -----------------------------------------------------------------
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    async def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        loop = asyncio.get_running_loop()
        self._write_conn = self._connect()
        self._create_schema()
        self._write_cursor = self._write_conn.cursor()
        self._read_conn = await loop.run_in_executor(self._read_pool, self._connect)
        self._thread_idle.set()
        self._loop = loop
        self._committer = threading.Thread(
            target=self._commit_thread, args=(loop,), name="sqlite-commit", daemon=True
        )
        self._committer.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=30
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self.synchronous}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA cache_size=-32768")  # 32 MiB: hot runs stay cached
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def _create_schema(self) -> None:
        """Create a new database from `SCHEMA` (no Alembic needed); bring one that
        an older release migrated up to date through the migrations."""
        conn = self._write_conn
        assert conn is not None
        version = _schema_version(conn)
        if version == SCHEMA_REVISION:
            return
        if version is None:  # new, or made before migrations existed (additive)
            conn.executescript(
                f"BEGIN IMMEDIATE; {sql.SCHEMA}"
                f"INSERT INTO alembic_version SELECT '{SCHEMA_REVISION}' "
                "WHERE NOT EXISTS (SELECT 1 FROM alembic_version); COMMIT;"
            )
            return
        from ..migrations import upgrade

        upgrade(f"sqlite:///{self.path.resolve()}")

    async def aclose(self) -> None:
        if self._loop is not None:
            self._flush()  # what is waiting for the loop's next turn
            await self._thread_idle.wait()
            self._loop = None
        loop = asyncio.get_running_loop()
        if self._committer is not None:
            self._handoff.put(None)
            await loop.run_in_executor(None, self._committer.join)
            self._committer = None
        if self._write_conn is not None:
            self._write_cursor = None
            self._write_conn.close()
            self._write_conn = None
        if self._read_conn is not None:
            await loop.run_in_executor(self._read_pool, self._read_conn.close)
            self._read_conn = None
        self._read_pool.shutdown(wait=True)

    # the writer ----------------------------------------------------------------
    def _enqueue(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue a write. In the thread gear, or while the commit thread holds
        writes, a new one goes straight to the thread, which takes everything
        waiting as its next group; otherwise into the group the loop commits at its
        next turn (`_flush`), which only goes to the thread when the thread holds
        nothing. So writes are applied in the order they were made.

        The thread gear starts with a large group and lasts until the thread's
        groups get small. It lasts on purpose: writes reaching the thread while the
        loop is still resuming the runs of the last group form a group of their
        own, so the groups settle into cohorts whose commits overlap with the other
        cohorts' steps, instead of every run waiting for one commit in turn."""
        loop = self._loop
        if loop is None:
            raise StoreError("the store is not open")
        future: asyncio.Future[Any] = loop.create_future()
        if self._handed_off or self._thread_gear:
            self._hand_off([(op, future)])
        else:
            self._waiting.append((op, future))
            if not self._flush_scheduled:
                self._flush_scheduled = True
                loop.call_soon(self._flush)
        return future

    async def _submit(self, op: WriteOp) -> Any:
        return await self._enqueue(op)

    def _flush(self) -> None:
        """Commit the writes made since the last turn of the loop as one group:
        right here when they are few, on the commit thread when they are many."""
        self._flush_scheduled = False
        items, self._waiting = self._waiting, []
        if not items:
            return
        if len(items) < self.commit_offload_at:
            outcomes = self._apply_and_commit([op for op, _ in items])
            self._resolve(items, outcomes, handed_off=False)
        else:
            self._thread_gear = True
            self._hand_off(items)

    def _hand_off(self, items: list[Pending]) -> None:
        """Give writes to the commit thread (loop thread only). The clock is held
        while the thread has any, as for an inline commit."""
        if not self._handed_off:
            self._thread_idle.clear()
            self._clock_hold = contextlib.ExitStack()
            self._clock_hold.enter_context(self.clock.hold())
        self._handed_off += len(items)
        self._handoff.put(items)

    def _commit_thread(self, loop: asyncio.AbstractEventLoop) -> None:
        """Apply and commit what was handed off, everything waiting at once."""
        while True:
            group = self._handoff.get()
            if group is None:
                return
            stop = False
            while not self._handoff.empty():
                more = self._handoff.get_nowait()
                if more is None:
                    stop = True
                    break
                group.extend(more)
            outcomes = self._apply_and_commit([op for op, _ in group])
            loop.call_soon_threadsafe(self._resolve, group, outcomes, True)
            if stop:
                return

    def _resolve(
        self, items: list[Pending], outcomes: list[tuple[bool, Any]], handed_off: bool
    ) -> None:
        for (_, future), (ok, value) in zip(items, outcomes, strict=True):
            if not future.done():
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        if handed_off:
            if len(items) < self.commit_offload_at // 4:
                self._thread_gear = False  # the load has gone: commit inline again
            self._handed_off -= len(items)
            if not self._handed_off:
                assert self._clock_hold is not None
                self._clock_hold.close()
                self._thread_idle.set()

    def _apply_and_commit(self, ops: list[WriteOp]) -> list[tuple[bool, Any]]:
        try:
            outcomes = self._apply(ops)
            self._commit()
        except Exception as exc:  # the commit itself failed: nothing landed
            error = StoreError(f"SQLite commit failed: {exc}")
            return [(False, error)] * len(ops)
        return outcomes

    def _apply(self, ops: list[WriteOp]) -> list[tuple[bool, Any]]:
        """Apply `ops` in one open transaction. Fast path: no savepoints; if an op
        fails the transaction is rolled back and replayed with one savepoint per op,
        so a failing op never takes its neighbours down with it."""
        cur = self._write_cursor
        assert cur is not None
        cur.execute("BEGIN IMMEDIATE")
        try:
            rows = PendingRows()
            outcomes: list[tuple[bool, Any]] = [(True, op(cur, rows)) for op in ops]
            rows.flush(cur)
        except Exception:
            cur.execute("ROLLBACK")
            cur.execute("BEGIN IMMEDIATE")
            outcomes = [self._apply_isolated(cur, op) for op in ops]
        self.batches += len(ops)
        return outcomes

    def _commit(self) -> None:
        cur = self._write_cursor
        assert cur is not None
        try:
            cur.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                cur.execute("ROLLBACK")
            raise
        self.commits += 1

    @staticmethod
    def _apply_isolated(cur: sqlite3.Cursor, op: WriteOp) -> tuple[bool, Any]:
        cur.execute("SAVEPOINT op")
        try:
            rows = PendingRows()
            result = (True, op(cur, rows))
            rows.flush(cur)
        except Exception as exc:
            cur.execute("ROLLBACK TO op")
            result = (False, _translate(exc))
        cur.execute("RELEASE op")
        return result

    async def _read(
        self, fn: Callable[[sqlite3.Connection], T], *, small: bool = False
    ) -> T:
        """Run a query. `small` ones (a row by primary key) run right here: a WAL
        read takes microseconds, less than a hop to the reader thread."""
        conn = self._read_conn
        if conn is None:
            raise StoreError("the store is not open")
        try:
            if small:
                return fn(conn)
            with self.clock.hold():
                loop = asyncio.get_running_loop()
                return await loop.run_in_executor(self._read_pool, fn, conn)
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite read failed: {exc}") from exc

    # runs ----------------------------------------------------------------------
    async def create_run(self, run: RunRecord, event: Event) -> tuple[RunRecord, bool]:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> tuple[RunRecord, bool]:
            if run.idempotency_key is not None:
                row = cur.execute(
                    sql.SELECT_RUN_BY_IDEMPOTENCY, (run.tenant, run.idempotency_key)
                ).fetchone()
                if row is not None:
                    return sql.run_from_row(row), False
            run.last_seq = event.seq
            (run.submit_seq,) = cur.execute(
                sql.INSERT_RUN, sql.run_params(run)
            ).fetchone()
            rows.events.append(sql.event_params(event))
            return run, True

        result: tuple[RunRecord, bool] = await self._submit(op)
        return result

    async def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord:
        row = await self._read(
            lambda conn: conn.execute(sql.SELECT_RUN, (run_id,)).fetchone(), small=True
        )
        if row is None:
            raise RunNotFoundError(run_id)
        run = sql.run_from_row(row)
        if tenant is not None and run.tenant != tenant:
            raise RunNotFoundError(run_id)
        return run

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        text, params = sql.list_runs_query(query)
        rows = await self._read(lambda conn: conn.execute(text, params).fetchall())
        return [sql.run_from_row(row) for row in rows]

    async def unfinished_runs(self) -> list[RunRecord]:
        rows = await self._read(
            lambda conn: conn.execute(sql.SELECT_UNFINISHED).fetchall()
        )
        return [sql.run_from_row(row) for row in rows]

    async def request_cancel(self, run_id: str) -> None:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> None:
            if cur.execute(sql.REQUEST_CANCEL, (run_id,)).rowcount == 0:
                raise RunNotFoundError(run_id)

        await self._submit(op)

    # leases --------------------------------------------------------------------
    async def acquire_lease(
        self, run_id: str, owner: str, now: float, ttl_s: float, *, force: bool = False
    ) -> RunRecord | None:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> RunRecord | None:
            cursor = cur.execute(
                sql.ACQUIRE_LEASE, (owner, now + ttl_s, now, run_id, owner, now, force)
            )
            if cursor.rowcount == 0:
                return None
            return sql.run_from_row(cur.execute(sql.SELECT_RUN, (run_id,)).fetchone())

        result: RunRecord | None = await self._submit(op)
        return result

    async def renew_leases(
        self, owner: str, leases: Sequence[tuple[str, int]], expires_at: float
    ) -> list[str]:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> list[str]:
            lost = []
            for run_id, epoch in leases:
                cursor = cur.execute(
                    sql.RENEW_LEASE, (expires_at, run_id, owner, epoch)
                )
                if cursor.rowcount == 0:
                    lost.append(run_id)
            return lost

        result: list[str] = await self._submit(op)
        return result

    # owner writes --------------------------------------------------------------
    async def write(self, batch: WriteBatch) -> None:
        await self.submit_write(batch)

    def submit_write(self, batch: WriteBatch) -> asyncio.Future[None]:
        now = self.clock.now()
        return self._enqueue(lambda cur, rows: _apply_batch(cur, rows, batch, now))

    async def load_steps(self, run_id: str) -> dict[int, StepRecord]:
        rows = await self._read(
            lambda conn: conn.execute(sql.SELECT_STEPS, (run_id,)).fetchall()
        )
        return {row[1]: sql.step_from_row(row) for row in rows}

    # events --------------------------------------------------------------------
    async def read_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[Event]:
        rows = await self._read(
            lambda conn: conn.execute(
                sql.SELECT_EVENTS, (run_id, after_seq, limit)
            ).fetchall()
        )
        return [sql.event_from_row(row) for row in rows]

    async def compact_events(self, run_id: str, upto_seq: int) -> int:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> int:
            rows.flush(cur)
            return cur.execute(sql.DELETE_EVENTS_UPTO, (run_id, upto_seq)).rowcount

        result: int = await self._submit(op)
        return result

    # signals -------------------------------------------------------------------
    async def add_signal(self, run_id: str, name: str, payload: Any, now: float) -> int:
        def op(cur: sqlite3.Cursor, rows: PendingRows) -> int:
            if cur.execute(sql.SELECT_RUN_EXISTS, (run_id,)).fetchone() is None:
                raise RunNotFoundError(run_id)
            cursor = cur.execute(sql.INSERT_SIGNAL, (run_id, name, dumps(payload), now))
            return int(cursor.lastrowid or 0)

        result: int = await self._submit(op)
        return result

    async def pending_signals(self, run_id: str, name: str) -> list[SignalRecord]:
        rows = await self._read(
            lambda conn: conn.execute(
                sql.SELECT_PENDING_SIGNALS, (run_id, name)
            ).fetchall()
        )
        return [sql.signal_from_row(row) for row in rows]

    # dead letters --------------------------------------------------------------
    async def list_dead_letters(
        self, tenant: str | None, limit: int = 50, include_replayed: bool = False
    ) -> list[DeadLetter]:
        text, params = sql.list_dead_letters_query(tenant, limit, include_replayed)
        rows = await self._read(lambda conn: conn.execute(text, params).fetchall())
        return [sql.dead_letter_from_row(row) for row in rows]

    async def get_dead_letter(
        self, dead_letter_id: str, tenant: str | None = None
    ) -> DeadLetter:
        row = await self._read(
            lambda conn: conn.execute(
                sql.SELECT_DEAD_LETTER, (dead_letter_id,)
            ).fetchone()
        )
        if row is None:
            raise DeadLetterNotFoundError(dead_letter_id)
        letter = sql.dead_letter_from_row(row)
        if tenant is not None and letter.tenant != tenant:
            raise DeadLetterNotFoundError(dead_letter_id)
        return letter


def _apply_batch(
    cur: sqlite3.Cursor, rows: PendingRows, batch: WriteBatch, now: float
) -> None:
    """Apply one owner's batch, fenced on its lease epoch (runs in the writer)."""
    fence = cur.execute(*sql.fenced_update(batch, now)).rowcount
    if fence == 0:
        raise LeaseLostError(batch.run_id, batch.epoch)
    rows.steps.extend(sql.step_params(step) for step in batch.steps)
    rows.events.extend(sql.event_params(event) for event in batch.events)
    if batch.consumed_signals:
        cur.executemany(sql.CONSUME_SIGNAL, batch.consumed_signals)
    if batch.drop_failed_steps:
        rows.flush(cur)  # the delete must see this group's earlier checkpoints
        cur.execute(sql.DELETE_FAILED_STEPS, (batch.run_id,))
    if batch.dead_letter is not None:
        cur.execute(sql.INSERT_DEAD_LETTER, sql.dead_letter_params(batch.dead_letter))
    if batch.replayed_dead_letter is not None:
        cur.execute(sql.MARK_REPLAYED, (now, batch.replayed_dead_letter))


def _schema_version(conn: sqlite3.Connection) -> str | None:
    """The Alembic revision the database says it is at, if any."""
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError:  # no such table
        return None
    return None if row is None else str(row[0])


def _translate(exc: Exception) -> Exception:
    """Foreign errors become conveyor errors at the boundary."""
    if isinstance(exc, sqlite3.Error):
        error = StoreError(f"SQLite: {exc}")
        error.__cause__ = exc
        return error
    return exc
