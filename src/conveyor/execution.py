"""`RunExecution`: the owner's side of one run — numbering events gap-free, fencing
every write with the lease epoch, replaying recorded checkpoints, and moving the run
through its state machine until it ends."""

from __future__ import annotations

import asyncio
import contextlib
import traceback
import uuid
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from .errors import (
    ConveyorError,
    LeaseLostError,
    NonDeterminismError,
    RunCancelledError,
    StepFailedError,
)
from .events import Event, EventType
from .runs import RunRecord, RunStatus, check_transition
from .serde import to_jsonable
from .store.base import DeadLetter, RunUpdate, StepRecord, WriteBatch

if TYPE_CHECKING:
    from .app import Conveyor
    from .workflows import Workflow


def error_info(error: BaseException) -> dict[str, Any]:
    """A stored description of an error (type, message, its `details()` if it is a
    conveyor error, short traceback)."""
    info: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, StepFailedError):
        info.update(type=error.error_type, message=error.error_message, step=error.step)
        info["attempts"] = error.attempts
        if error.error_details:
            info["details"] = error.error_details
    elif isinstance(error, ConveyorError) and (details := error.details()):
        info["details"] = to_jsonable(details)
    tb = traceback.format_exception(error, limit=-3)
    info["traceback"] = "".join(tb)[-2000:]
    return info


class RunExecution:
    """Everything the current owner knows about a run while executing it."""

    def __init__(
        self,
        app: Conveyor,
        run: RunRecord,
        spec: Workflow[Any],
        history: dict[int, StepRecord],
    ) -> None:
        self.app = app
        self.run = run
        self.spec = spec
        self.epoch = run.lease_epoch
        self.lease_expires_at = run.lease_expires_at
        self.active_steps = 0
        self.crashed = True
        self.seq = run.last_seq
        self.status = run.status
        self.history = history
        self.next_step_id = 0
        self.cancel_requested = asyncio.Event()
        if run.cancel_requested:
            self.cancel_requested.set()
        self.signal_arrived = asyncio.Event()
        self.query_state = dict(run.query_state)
        self.lost: LeaseLostError | None = None
        self.write_error: Exception | None = None
        self._pending: list[Event] = []
        self._in_flight: set[asyncio.Future[None]] = set()
        self._barrier: Awaitable[None] | None = None
        self._soon_update: RunUpdate | None = None
        self._flush_scheduled = False

    # identity of steps -----------------------------------------------------------
    def allocate_step(self) -> int:
        """The next step id; allocated when a step is *called*, so fan-out is stable."""
        self.next_step_id += 1
        return self.next_step_id

    def recorded(
        self, step_id: int, name: str, kind: str, digest: str
    ) -> StepRecord | None:
        """The checkpoint of `step_id`, after checking replay follows the same path."""
        record = self.history.get(step_id)
        if record is None:
            return None
        if record.kind != kind or record.name != name:
            raise NonDeterminismError(
                self.run.id, step_id, f"{record.kind} {record.name}", f"{kind} {name}"
            )
        if record.input_digest != digest:
            raise NonDeterminismError(
                self.run.id,
                step_id,
                f"{record.name} with input digest {record.input_digest}",
                f"{name} with input digest {digest}",
            )
        return record

    # events and writes -----------------------------------------------------------
    def emit(
        self,
        type_: EventType,
        *,
        step: str | None = None,
        attempt: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> Event:
        """Number and queue an event; it is stored with the next write."""
        self.seq += 1
        run = self.run
        event = Event(  # by position: nine events a run, keywords cost a quarter
            run.id,
            self.seq,
            type_._value_,  # as `.value`, without its descriptor's cost
            self.app.clock.now(),
            run.tenant,
            run.workflow,
            run.session_id,
            step,
            attempt,
            data or {},
        )
        self._pending.append(event)
        return event

    def move(self, target: RunStatus) -> RunUpdate:
        """Check and record a state-machine move; returns the row update for it."""
        check_transition(self.run.id, self.status, target)
        self.status = target
        return RunUpdate(status=target)

    def write(
        self,
        *,
        steps: list[StepRecord] | None = None,
        update: RunUpdate | None = None,
        **extra: Any,
    ) -> Awaitable[None]:
        """Store queued events with `steps`/`update` atomically, fenced on our epoch;
        events are published to live subscribers once committed."""
        if self.lost is not None:
            raise self.lost
        if self.write_error is not None:
            # an earlier write (not awaited) failed: never record past a hole
            raise self.write_error
        if self._soon_update is not None:
            update = _merge(self._soon_update, update)
            self._soon_update = None
        batch = WriteBatch(
            run_id=self.run.id,
            epoch=self.epoch,
            events=self._pending,
            steps=steps or [],
            update=update,
            **extra,
        )
        self._pending = []
        future = self.app.store.submit_write(batch)
        events = batch.events
        self._in_flight.add(future)

        def done(fut: asyncio.Future[None]) -> None:
            self._in_flight.discard(fut)
            if fut.cancelled():
                return
            error = fut.exception()
            if error is None:
                if events:
                    self.app.bus.publish(events)
            elif isinstance(error, LeaseLostError):
                self.lost = error
            elif isinstance(error, Exception):
                self.write_error = error

        future.add_done_callback(done)
        return future

    def checkpoint(self, **kwargs: Any) -> None:
        """Write a checkpoint that the next step or the run's end must wait for."""
        self._barrier = self.write(**kwargs)

    async def settle(self) -> None:
        """Wait until the last checkpoint is durable (before any further effect)."""
        barrier, self._barrier = self._barrier, None
        if barrier is not None:
            await barrier

    def write_soon(self, update: RunUpdate | None = None) -> None:
        """Store queued events (and `update`) soon, without waiting: at the end of
        this turn of the event loop, unless a write picks them up first. A step that
        finishes at once thus shares one write with its `step.started` event.
        Failures surface on the next awaited write, which is fenced the same way."""
        if update is not None:
            self._soon_update = _merge(self._soon_update, update)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self.app.soon_writes.add(self)

    def _flush_soon(self) -> None:
        self._flush_scheduled = False
        failed = self.lost is not None or self.write_error is not None
        if (self._pending or self._soon_update is not None) and not failed:
            self.write()

    async def release(self) -> None:
        """Give the run up cleanly (shutdown): the next owner resumes it without
        counting a crash."""
        with contextlib.suppress(Exception):
            await self.write(update=RunUpdate(release_lease=True))

    async def drain(self) -> None:
        """Wait for every write in flight."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    # lifecycle -------------------------------------------------------------------
    def begin(self, *, crashed: bool = True) -> None:
        """Record the start (or recovery) of the run; stored with the next write."""
        if self.status is RunStatus.PENDING:
            update = self.move(RunStatus.RUNNING)
            self.emit(EventType.RUN_STARTED, data={"attempt": self.run.recoveries + 1})
            self.write_soon(update=update)
            return
        if crashed:
            self.run.recoveries += 1
        self.emit(
            EventType.RUN_RECOVERED,
            data={"recoveries": self.run.recoveries, "crashed": crashed},
        )
        update = RunUpdate(count_recovery=crashed)
        if self.status is RunStatus.RETRYING:
            update = self.move(RunStatus.RUNNING)
            update.count_recovery = crashed
        self.write_soon(update=update)

    async def complete(self, output: Any) -> None:
        """The workflow returned: record its output and let the run go."""
        update = self.move(RunStatus.COMPLETED)
        update.output, update.set_output, update.release_lease = output, True, True
        self.emit(EventType.RUN_COMPLETED, data={"output": output})
        await self.write(update=update)

    async def cancel(self) -> None:
        """The run was cancelled: record it and let the run go."""
        update = self.move(RunStatus.CANCELLED)
        update.release_lease = True
        update.error = {"type": RunCancelledError.__name__, "message": "cancelled"}
        self.emit(EventType.RUN_CANCELLED)
        await self.write(update=update)

    async def fail(self, error: BaseException) -> None:
        """The workflow raised: the run fails and goes to the dead-letter list."""
        info = error_info(error)
        failed = self.move(RunStatus.FAILED)
        self.emit(EventType.RUN_FAILED, data={"error": _public(info)})
        dead = self.move(RunStatus.DEAD)
        letter = DeadLetter(
            id=uuid.uuid4().hex,
            run_id=self.run.id,
            tenant=self.run.tenant,
            workflow=self.run.workflow,
            error=info,
            attempts=int(info.get("attempts", 1)),
            created_at=self.app.clock.now(),
        )
        self.emit(
            EventType.RUN_DEAD_LETTERED,
            data={"dead_letter_id": letter.id, "error": _public(info)},
        )
        dead.error, dead.release_lease = info, True
        del failed  # the row goes straight to its final state in one atomic write
        await self.write(update=dead, dead_letter=letter)

    def set_query(self, name: str, value: Any) -> None:
        """Publish a named piece of state for queries."""
        self.query_state[name] = to_jsonable(value)
        self.emit(
            EventType.STATE_UPDATED,
            data={"name": name, "value": self.query_state[name]},
        )
        self.write_soon(update=RunUpdate(query_state=dict(self.query_state)))


class SoonWrites:
    """The runs whose queued events are to be stored at the end of this turn of the
    event loop (`RunExecution.write_soon`): one callback stores them all, instead
    of one callback per run and step, most of which found nothing left to store."""

    def __init__(self) -> None:
        self._due: list[RunExecution] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def add(self, execution: RunExecution) -> None:
        """Store `execution`'s queued events at the end of this turn."""
        loop = asyncio.get_running_loop()
        if self._due and loop is self._loop:
            self._due.append(execution)
            return
        # (A loop that stopped before storing its due runs took them with it.)
        self._loop, self._due = loop, [execution]
        loop.call_soon(self._flush)

    def _flush(self) -> None:
        due, self._due = self._due, []
        for execution in due:
            execution._flush_soon()


def _merge(first: RunUpdate | None, second: RunUpdate | None) -> RunUpdate | None:
    """One row update with the effect of `first` then `second`."""
    if first is None or second is None:
        return first or second
    merged = RunUpdate(
        status=second.status or first.status,
        output=second.output if second.set_output else first.output,
        set_output=first.set_output or second.set_output,
        error=second.error if second.status else first.error,
        query_state=second.query_state or first.query_state,
        release_lease=first.release_lease or second.release_lease,
        count_recovery=first.count_recovery or second.count_recovery,
        reset_recoveries=first.reset_recoveries or second.reset_recoveries,
        lease_until=second.lease_until or first.lease_until,
    )
    return merged


def _public(info: dict[str, Any]) -> dict[str, Any]:
    """The error fields safe to stream (no traceback)."""
    return {k: v for k, v in info.items() if k != "traceback"}


async def settle(future: Awaitable[None]) -> None:
    """Await a write, ignoring a lost lease (the new owner carries on)."""
    with contextlib.suppress(LeaseLostError):
        await future
