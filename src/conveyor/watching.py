"""Watching runs from outside: wait for a run's outcome, or follow its events from
the store into the live stream without missing or repeating one at the seam."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from .bus.base import Subscription, Topic
from .clock import wait_with_timeout
from .errors import (
    ConfigurationError,
    RunCancelledError,
    RunFailedError,
    SlowConsumerError,
)
from .events import TERMINAL_TYPES, Event, EventType
from .runners.local import LocalRunner
from .runs import RunRecord, RunStatus

if TYPE_CHECKING:
    from .app import Conveyor

PAGE = 1000


async def wait_for_result(
    app: Conveyor,
    run_id: str,
    tenant: str | None,
    timeout_s: float | None,
    listening: Subscription | None = None,
) -> Any:
    """The run's output once it ends; `RunFailedError` / `RunCancelledError`.

    `listening`: a subscription to the run's end made before the run was
    dispatched, so there is nothing to read from the store first.
    """
    deadline = None if timeout_s is None else app.clock.now() + timeout_s
    ended: Event | RunRecord | None = None
    if listening is None and _executing_here(app, run_id, tenant):
        assert isinstance(app.runner, LocalRunner)
        ended = await wait_with_timeout(app.clock, app.runner.end_of(run_id), timeout_s)
    if ended is None:  # not here, or it stopped here without ending
        remaining = None if deadline is None else deadline - app.clock.now()
        ended = await wait_with_timeout(
            app.clock, _until_end(app, run_id, tenant, listening), remaining
        )
    if isinstance(ended, Event):
        if ended.type == EventType.RUN_COMPLETED:
            return ended.data.get("output")
        ended = await app.get_run(run_id, tenant)
    if ended.status is RunStatus.COMPLETED:
        return ended.output
    if ended.status is RunStatus.CANCELLED:
        raise RunCancelledError(run_id)
    error = ended.error or {}
    raise RunFailedError(run_id, f"{error.get('type')}: {error.get('message')}")


async def _until_end(
    app: Conveyor, run_id: str, tenant: str | None, listening: Subscription | None
) -> Event | RunRecord:
    """The run's terminal event, or the run itself if it had ended already."""
    subscription = listening
    while True:
        if subscription is None:
            # Only terminal events are queued: a wide fan-out cannot overflow it.
            subscription = app.bus.subscribe(Topic(run_id=run_id, types=TERMINAL_TYPES))
            await app.bus.flush()
            # A run executing here has its end still to come: no need to read it.
            if not _executing_here(app, run_id, tenant):
                run = await app.get_run(run_id, tenant)
                if run.status.is_terminal:
                    await subscription.aclose()
                    return run
        try:
            async for event in subscription:
                return event
            raise ConfigurationError("the event bus closed")
        except SlowConsumerError:
            pass  # the bus reconnected, events may be lost: listen afresh, read
        finally:
            await subscription.aclose()
        subscription = None


def _executing_here(app: Conveyor, run_id: str, tenant: str | None) -> bool:
    """Whether this process's local runner is running the run, of this tenant."""
    runner = app.runner
    return isinstance(runner, LocalRunner) and runner.surely_unfinished(run_id, tenant)


async def follow_events(
    app: Conveyor, run_id: str, *, after: int, tenant: str | None, follow: bool
) -> AsyncGenerator[Event, None]:
    """Stored events with seq > `after`, then (if `follow`) live ones until the run
    ends."""
    await app.get_run(run_id, tenant)
    subscription = app.bus.subscribe(
        Topic(run_id=run_id), max_queued=app.settings.max_ws_queue
    )
    try:
        await app.bus.flush()
        last = after
        while True:
            batch = await app.store.read_events(run_id, last, limit=PAGE)
            for event in batch:
                yield event
                last = event.seq
                if event.type in TERMINAL_TYPES and follow:
                    if (await app.get_run(run_id)).status.is_terminal:
                        return
            if len(batch) < PAGE:
                break
        if not follow:
            return
        async for event in subscription:
            if event.seq <= last:
                continue
            if event.seq > last + 1:  # fell behind live: fill the gap from storage
                for missed in await app.store.read_events(
                    run_id, last, event.seq - last - 1
                ):
                    yield missed
            yield event
            last = event.seq
            if event.type in TERMINAL_TYPES:
                return
    finally:
        await subscription.aclose()
