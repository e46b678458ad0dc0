"""Relaying events to one streaming client through a bounded backlog.

A pump task moves events from the engine into the client's backlog without ever
blocking the engine; the client's sender drains it. A backlog that stays full for
`grace_s` (the client stopped reading) fails with `SlowConsumerError`, so one stuck
client costs a bounded amount of memory and never slows the run or other clients.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from ..app import Conveyor
from ..bus.base import Topic
from ..errors import SlowConsumerError
from ..events import Event

GRACE_S = 1.0
"""How long a full backlog may wait for the client before it counts as slow: rides
out bursts (one group commit can publish hundreds of events at once)."""


class Backlog:
    """Events waiting to be sent to one client; `None` marks the end of the stream."""

    def __init__(
        self,
        max_queued: int,
        grace_s: float = GRACE_S,
        on_slow: Callable[[], None] = lambda: None,
    ) -> None:
        self.max_queued = max_queued
        self.grace_s = grace_s
        self.on_slow = on_slow
        self.failure: Exception | None = None
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(max_queued)

    async def offer(self, item: Event | None) -> bool:
        """Queue `item`; False (and the backlog fails) when the client is too slow."""
        try:
            self._queue.put_nowait(item)
            return True
        except asyncio.QueueFull:
            pass
        timer = asyncio.timeout(self.grace_s)
        try:
            async with timer:
                await self._queue.put(item)
            return True
        except TimeoutError:
            if not timer.expired():
                raise
            self.fail(SlowConsumerError(self.max_queued))
            self.on_slow()
            return False

    def fail(self, error: Exception) -> None:
        """End the stream with `error` (the consumer sees it on its next `get`)."""
        if self.failure is None:
            self.failure = error
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)  # wake a consumer waiting on an empty queue

    async def get(self) -> Event | None:
        """The next event, None at the end, or the failure raised."""
        if self.failure is not None:
            raise self.failure
        item = await self._queue.get()
        if self.failure is not None:
            raise self.failure
        return item


async def pump_run(
    conveyor: Conveyor, run_id: str, tenant: str, after: int, backlog: Backlog
) -> None:
    """Stored then live events of one run after seq `after`, until its terminal
    event. If the engine's own subscription overflows, it resumes from the store
    after the last seq relayed: nothing is lost or repeated."""
    last = after
    try:
        while True:
            try:
                events = conveyor.events(run_id, after=last, tenant=tenant)
                async with contextlib.aclosing(events):
                    async for event in events:
                        if not await backlog.offer(event):
                            return
                        last = event.seq
                await backlog.offer(None)
                return
            except SlowConsumerError:
                continue
    except Exception as exc:
        backlog.fail(exc)


async def pump_topic(conveyor: Conveyor, topic: Topic, backlog: Backlog) -> None:
    """Live events of `topic` (a session's stream has no history to resume from, so
    an overflow of the engine's subscription ends it as a slow consumer)."""
    subscription = conveyor.bus.subscribe(
        topic, max_queued=conveyor.settings.max_ws_queue
    )
    try:
        async for event in subscription:
            if not await backlog.offer(event):
                return
        await backlog.offer(None)
    except Exception as exc:
        backlog.fail(exc)
    finally:
        await subscription.aclose()


async def drain(
    backlog: Backlog, format_event: Callable[[Event], str], keepalive_s: float
) -> AsyncIterator[str | None]:
    """Formatted events from `backlog`; None after `keepalive_s` of silence (time to
    send a keep-alive). Ends at the end of the stream; raises its failure."""
    while True:
        timer = asyncio.timeout(keepalive_s)
        try:
            async with timer:
                item = await backlog.get()
        except TimeoutError:
            if not timer.expired():
                raise  # the stream's own failure, not our silence
            yield None
            continue
        if item is None:
            return
        yield format_event(item)
