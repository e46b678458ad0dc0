"""The `Store` interface: the source of truth for runs, checkpoints, events, signals
and dead letters. Backends (SQLite, PostgreSQL, a user's own) implement it and prove
it with the conformance suite in `conveyor.testing.conformance`.

Writes by a run's owner are *fenced*: a `WriteBatch` carries the lease epoch the
writer believes it holds, and the store applies the batch only if that epoch is still
current — otherwise it raises `LeaseLostError` and applies nothing of that batch.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..events import Event
from ..runs import RunRecord, RunStatus

SCHEMA_REVISION = "0004"
"""The newest migration (`conveyor.migrations`): SQL stores skip migrating, and
loading Alembic, when the database already says it is at this revision."""


@dataclass(frozen=True, slots=True, init=False)
class StepRecord:
    """A checkpoint: what one step of a run did, keyed by its position in the run."""

    run_id: str
    step_id: int
    name: str
    kind: str
    status: str  # "started" | "completed" | "failed"
    input_digest: str = ""
    output: Any = None
    error: dict[str, Any] | None = None
    attempts: int = 0
    started_at: float = 0.0
    finished_at: float | None = None

    def __init__(
        self,
        run_id: str,
        step_id: int,
        name: str,
        kind: str,
        status: str,
        input_digest: str = "",
        output: Any = None,
        error: dict[str, Any] | None = None,
        attempts: int = 0,
        started_at: float = 0.0,
        finished_at: float | None = None,
    ) -> None:
        # The generated __init__, through the slots' own setters (as `Event`).
        s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10 = _STEP_SLOTS
        s0(self, run_id)
        s1(self, step_id)
        s2(self, name)
        s3(self, kind)
        s4(self, status)
        s5(self, input_digest)
        s6(self, output)
        s7(self, error)
        s8(self, attempts)
        s9(self, started_at)
        s10(self, finished_at)


_STEP_SLOTS = tuple(
    StepRecord.__dict__[name].__set__
    for name in (
        "run_id", "step_id", "name", "kind", "status", "input_digest", "output",
        "error", "attempts", "started_at", "finished_at",
    )
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SignalRecord:
    """A signal sent to a run; `step_id` is set once a `wait_for_signal` consumed it."""

    id: int
    run_id: str
    name: str
    payload: Any
    created_at: float
    step_id: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A run that exhausted its retries, parked with its last error until replayed."""

    id: str
    run_id: str
    tenant: str
    workflow: str
    error: dict[str, Any]
    attempts: int
    created_at: float
    replayed_at: float | None = None


@dataclass(slots=True)
class RunUpdate:
    """Changes to the run row carried by a write batch."""

    status: RunStatus | None = None
    output: Any = None
    error: dict[str, Any] | None = None
    set_output: bool = False
    query_state: dict[str, Any] | None = None
    release_lease: bool = False
    count_recovery: bool = False
    reset_recoveries: bool = False
    lease_until: float | None = None


@dataclass(slots=True)
class WriteBatch:
    """Everything one owner writes atomically for one run."""

    run_id: str
    epoch: int
    events: list[Event] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)
    update: RunUpdate | None = None
    consumed_signals: list[tuple[int, int]] = field(default_factory=list)
    dead_letter: DeadLetter | None = None
    replayed_dead_letter: str | None = None
    drop_failed_steps: bool = False

    @property
    def last_seq(self) -> int | None:
        """The highest event seq in the batch, if any."""
        return self.events[-1].seq if self.events else None


@dataclass(frozen=True, slots=True)
class RunQuery:
    """Filters and pagination for listing runs (newest first)."""

    tenant: str | None
    status: RunStatus | None = None
    workflow: str | None = None
    key: str | None = None
    session_id: str | None = None
    limit: int = 50
    before_seq: int | None = None


class Store(abc.ABC):
    """Durable state behind the engine."""

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and make sure the schema exists."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Flush pending writes and release connections."""

    def lock_path(self) -> Path | None:
        """A file whose exclusive lock marks the one process executing runs on an
        embedded store; None for shared stores (leases alone decide)."""
        return None

    # runs -------------------------------------------------------------------
    @abc.abstractmethod
    async def create_run(self, run: RunRecord, event: Event) -> tuple[RunRecord, bool]:
        """Insert `run` with its first event; on an idempotency-key clash return the
        existing run and False. Assigns `submit_seq`."""

    @abc.abstractmethod
    async def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord:
        """The run, or `RunNotFoundError` (also when it belongs to another tenant)."""

    @abc.abstractmethod
    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching `query`, newest first."""

    @abc.abstractmethod
    async def unfinished_runs(self) -> list[RunRecord]:
        """Runs in pending, running or retrying, in submission order."""

    @abc.abstractmethod
    async def request_cancel(self, run_id: str) -> None:
        """Flag the run for cancellation (its owner acts on the flag)."""

    # leases -----------------------------------------------------------------
    @abc.abstractmethod
    async def acquire_lease(
        self, run_id: str, owner: str, now: float, ttl_s: float, *, force: bool = False
    ) -> RunRecord | None:
        """Take the run if unowned or its lease expired (or `force`); bump the epoch
        and return the run as now owned, or None when someone else holds it."""

    @abc.abstractmethod
    async def renew_leases(
        self, owner: str, leases: Sequence[tuple[str, int]], expires_at: float
    ) -> list[str]:
        """Extend the leases still held; return the run ids whose lease was lost."""

    # owner writes -----------------------------------------------------------
    @abc.abstractmethod
    async def write(self, batch: WriteBatch) -> None:
        """Apply `batch` atomically if its epoch is current, else `LeaseLostError`."""

    def submit_write(self, batch: WriteBatch) -> asyncio.Future[None]:
        """Queue `batch` for `write`; the future resolves once it is durable.
        Backends with their own write queue override this to save a task per write."""
        return asyncio.ensure_future(self.write(batch))

    @abc.abstractmethod
    async def load_steps(self, run_id: str) -> dict[int, StepRecord]:
        """Every checkpoint of the run, by step id."""

    # events -----------------------------------------------------------------
    @abc.abstractmethod
    async def read_events(
        self, run_id: str, after_seq: int = 0, limit: int = 1000
    ) -> list[Event]:
        """Stored events of a run with `seq > after_seq`, in order."""

    @abc.abstractmethod
    async def compact_events(self, run_id: str, upto_seq: int) -> int:
        """Drop stored events with `seq <= upto_seq`; return how many went."""

    # signals ----------------------------------------------------------------
    @abc.abstractmethod
    async def add_signal(self, run_id: str, name: str, payload: Any, now: float) -> int:
        """Store a signal for the run; it waits there until consumed."""

    @abc.abstractmethod
    async def pending_signals(self, run_id: str, name: str) -> list[SignalRecord]:
        """Unconsumed signals of that name, oldest first."""

    # dead letters -----------------------------------------------------------
    @abc.abstractmethod
    async def list_dead_letters(
        self, tenant: str | None, limit: int = 50, include_replayed: bool = False
    ) -> list[DeadLetter]:
        """Dead letters, newest first."""

    @abc.abstractmethod
    async def get_dead_letter(
        self, dead_letter_id: str, tenant: str | None = None
    ) -> DeadLetter:
        """One dead letter, or `DeadLetterNotFoundError`."""
