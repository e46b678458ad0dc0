"""Time as the engine sees it: one `Clock` for timers, timeouts, backoffs and leases.

Everything time-dependent goes through a clock so that tests can swap in the virtual
clock from `conveyor.testing` and skip a 30-day durable sleep in milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from typing import Protocol, TypeVar

T = TypeVar("T")


class Clock(Protocol):
    """Wall time in seconds since the epoch, plus waiting."""

    def now(self) -> float:
        """Current wall time (seconds since the epoch)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time."""
        ...

    def hold(self) -> contextlib.AbstractContextManager[None]:
        """Mark real work in flight, so a virtual clock does not jump meanwhile."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def clock_timeout(clock: Clock, seconds: float | None) -> AsyncIterator[None]:
    """Like `asyncio.timeout`, but measured on `clock`; raises `TimeoutError`."""
    if seconds is None:
        yield
        return
    if isinstance(clock, SystemClock):
        # The event loop's own timer is cheaper than a watchdog task.
        async with asyncio.timeout(seconds):
            yield
        return
    task = asyncio.current_task()
    assert task is not None, "clock_timeout needs a running task"
    fired = False

    async def expire() -> None:
        nonlocal fired
        await clock.sleep(seconds)
        fired = True
        task.cancel()

    timer = asyncio.create_task(expire())
    try:
        yield
    except asyncio.CancelledError:
        if fired and task.uncancel() == 0:
            raise TimeoutError from None
        raise
    finally:
        timer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await timer


async def wait_with_timeout(
    clock: Clock, awaitable: Awaitable[T], seconds: float | None
) -> T:
    """Await `awaitable`, raising `TimeoutError` after `seconds` of clock time."""
    async with clock_timeout(clock, seconds):
        return await awaitable
