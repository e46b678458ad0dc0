"""Watching runs from outside: wait for a run's outcome, or follow its events from
the store into the live stream without missing or repeating one at the seam."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING, Any

from .bus.base import Topic
from .clock import wait_with_timeout
from .errors import ConfigurationError, RunCancelledError, RunFailedError
from .events import TERMINAL_EVENTS, Event, EventType
from .runners.local import LocalRunner
from .runs import RunStatus

if TYPE_CHECKING:
    from .app import Conveyor

TERMINAL_TYPES = frozenset(event.value for event in TERMINAL_EVENTS)
PAGE = 1000


async def wait_for_result(
    app: Conveyor, run_id: str, tenant: str | None, timeout_s: float | None
) -> Any:
    """The run's output once it ends; `RunFailedError` / `RunCancelledError`."""
    # Only terminal events are queued, so a wide fan-out cannot overflow the waiter.
    subscription = app.bus.subscribe(Topic(run_id=run_id, types=TERMINAL_TYPES))
    try:
        await app.bus.flush()
        if _executing_here(app, run_id, tenant):
            run = None  # no need to read it: its end is still to come
        else:
            run = await app.get_run(run_id, tenant)
        if run is None or not run.status.is_terminal:

            async def until_terminal() -> Event:
                async for event in subscription:
                    return event
                raise ConfigurationError("the event bus closed")

            ended = await wait_with_timeout(app.clock, until_terminal(), timeout_s)
            if ended.type == EventType.RUN_COMPLETED:
                return ended.data.get("output")
            run = await app.get_run(run_id, tenant)
    finally:
        await subscription.aclose()
    assert run is not None
    if run.status is RunStatus.COMPLETED:
        return run.output
    if run.status is RunStatus.CANCELLED:
        raise RunCancelledError(run_id)
    error = run.error or {}
    raise RunFailedError(run_id, f"{error.get('type')}: {error.get('message')}")


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
