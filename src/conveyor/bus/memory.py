"""`MemoryBus`: the in-process bus of embedded mode."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from ..errors import SlowConsumerError
from ..events import Event
from .base import Bus, Control, ControlHandler, EventListener, Subscription, Topic


class MemorySubscription(Subscription):
    """A subscriber's bounded queue; overflowing it ends the subscription."""

    def __init__(self, bus: MemoryBus, topic: Topic, max_queued: int) -> None:
        self.topic = topic
        self.max_queued = max_queued
        self.overflowed = False
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def offer(self, event: Event) -> None:
        """Queue `event`, or mark the subscriber too slow and wake it to say so."""
        if self.overflowed:
            return
        if self._queue.qsize() >= self.max_queued:
            self.overflowed = True
            self._queue.put_nowait(None)
            self._bus.unsubscribe(self)
            return
        self._queue.put_nowait(event)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                if self.overflowed:
                    raise SlowConsumerError(self.max_queued)
                return
            yield event

    async def aclose(self) -> None:
        self._bus.unsubscribe(self)
        self._queue.put_nowait(None)


class MemoryBus(Bus):
    """Fans events out to subscribers of this process and calls runner handlers.

    Subscriptions are indexed by run and by session, so publishing costs what the
    matching subscribers cost, not what all of them do.
    """

    def __init__(self) -> None:
        self._by_run: dict[str, set[MemorySubscription]] = {}
        self._by_session: dict[str, set[MemorySubscription]] = {}
        self._wide: set[MemorySubscription] = set()
        self._handlers: list[ControlHandler] = []
        self._listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def publish(self, events: list[Event]) -> None:
        for listener in self._listeners:
            for event in events:
                listener(event)
        for event in events:
            for subscription in self._matching(event):
                if subscription.topic.matches(event):
                    subscription.offer(event)

    def _matching(self, event: Event) -> list[MemorySubscription]:
        found: list[MemorySubscription] = []
        if self._by_run:
            found.extend(self._by_run.get(event.run_id, ()))
        if self._by_session and event.session_id is not None:
            found.extend(self._by_session.get(event.session_id, ()))
        if self._wide:
            found.extend(self._wide)
        return found

    def _index(self, topic: Topic) -> set[MemorySubscription]:
        if topic.run_id is not None:
            return self._by_run.setdefault(topic.run_id, set())
        if topic.session_id is not None:
            return self._by_session.setdefault(topic.session_id, set())
        return self._wide

    def subscribe(self, topic: Topic, max_queued: int = 1000) -> MemorySubscription:
        subscription = MemorySubscription(self, topic, max_queued)
        self._index(topic).add(subscription)
        return subscription

    def unsubscribe(self, subscription: MemorySubscription) -> None:
        """Stop delivering to `subscription`."""
        topic = subscription.topic
        bucket = self._index(topic)
        bucket.discard(subscription)
        if not bucket and bucket is not self._wide:
            if topic.run_id is not None:
                self._by_run.pop(topic.run_id, None)
            elif topic.session_id is not None:
                self._by_session.pop(topic.session_id, None)

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions (tests check streams close cleanly)."""
        return (
            sum(len(b) for b in self._by_run.values())
            + sum(len(b) for b in self._by_session.values())
            + len(self._wide)
        )

    async def send_control(self, message: Control) -> None:
        for handler in self._handlers:
            await handler(message)

    def on_control(self, handler: ControlHandler) -> None:
        self._handlers.append(handler)
