"""Durable waits: timers and signals, recorded as checkpoints so that a run restarted
mid-wait neither waits twice nor loses a signal sent while no worker was running."""

from __future__ import annotations

import contextlib
from typing import Any

from .clock import wait_with_timeout
from .events import EventType
from .execution import RunExecution
from .serde import digest
from .store.base import RunUpdate, StepRecord


async def durable_sleep(exe: RunExecution, step_id: int, seconds: float) -> None:
    """Sleep until a wake-up time recorded before the wait began."""
    recorded = exe.recorded(step_id, "sleep", "sleep", digest(seconds))
    if recorded is not None and recorded.status == "completed":
        return
    clock = exe.app.clock
    steps: list[StepRecord] = []
    if recorded is not None:
        wake_at = float(recorded.output["wake_at"])
        started_at = recorded.started_at
    else:
        started_at = clock.now()
        wake_at = started_at + seconds
        exe.emit(
            EventType.TIMER_STARTED,
            step="sleep",
            data={"step_id": step_id, "seconds": seconds, "wake_at": wake_at},
        )
        steps.append(_timer(exe, step_id, seconds, "started", wake_at))
    # A sleeping run keeps its lease until it wakes: no heartbeats meanwhile, and
    # if this worker dies the run is reclaimed when it is due anyway. A run
    # resumed mid-sleep was claimed with a lease of one TTL: extend it likewise
    # (a heartbeat would find it lapsed once the sleep is over, and lose it).
    lease_until = wake_at + exe.app.settings.lease_ttl_s
    if steps or lease_until > exe.lease_expires_at:
        await exe.write(steps=steps, update=RunUpdate(lease_until=lease_until))
        exe.lease_expires_at = max(exe.lease_expires_at, lease_until)
    remaining = wake_at - clock.now()
    if remaining > 0:
        with waiting(exe):
            await clock.sleep(remaining)
    exe.emit(EventType.TIMER_FIRED, step="sleep", data={"step_id": step_id})
    done = _timer(exe, step_id, seconds, "completed", wake_at, started_at)
    await exe.write(steps=[done])


def waiting(exe: RunExecution) -> contextlib.AbstractContextManager[None]:
    """Marks a run's wait, so its runner does not count it as executing."""
    runner = exe.app.runner
    return contextlib.nullcontext() if runner is None else runner.waiting(exe.run.id)


def _timer(
    exe: RunExecution,
    step_id: int,
    seconds: float,
    status: str,
    wake_at: float,
    started_at: float | None = None,
) -> StepRecord:
    now = exe.app.clock.now()
    return StepRecord(
        run_id=exe.run.id,
        step_id=step_id,
        name="sleep",
        kind="sleep",
        status=status,
        input_digest=digest(seconds),
        output={"wake_at": wake_at},
        started_at=started_at if started_at is not None else now,
        finished_at=now if status == "completed" else None,
    )


async def wait_for_signal(
    exe: RunExecution, step_id: int, name: str, timeout_s: float | None
) -> Any:
    """Bind the oldest unconsumed signal `name` to this step, waiting if none yet."""
    recorded = exe.recorded(step_id, name, "signal", "")
    if recorded is not None and recorded.status == "completed":
        return recorded.output.get("payload")
    store, clock = exe.app.store, exe.app.clock
    started_at = clock.now()

    async def next_signal() -> Any:
        while True:
            exe.signal_arrived.clear()
            pending = await store.pending_signals(exe.run.id, name)
            if pending:
                return pending[0]
            await exe.signal_arrived.wait()

    signal = None
    with contextlib.suppress(TimeoutError), waiting(exe):
        signal = await wait_with_timeout(clock, next_signal(), timeout_s)
    payload = None if signal is None else signal.payload
    record = StepRecord(
        run_id=exe.run.id,
        step_id=step_id,
        name=name,
        kind="signal",
        status="completed",
        input_digest="",
        output={"payload": payload, "timed_out": signal is None},
        started_at=started_at,
        finished_at=clock.now(),
    )
    exe.emit(
        EventType.SIGNAL_RECEIVED,
        step=name,
        data={"payload": payload, "timed_out": signal is None},
    )
    consumed = [] if signal is None else [(step_id, signal.id)]
    await exe.write(steps=[record], consumed_signals=consumed)
    return payload
