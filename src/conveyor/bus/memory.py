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
    """Fans events out to subscribers of this process and calls runner handlers."""

    def __init__(self) -> None:
        self._subscriptions: set[MemorySubscription] = set()
        self._handlers: list[ControlHandler] = []
        self._listeners: list[EventListener] = []

    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def publish(self, events: list[Event]) -> None:
        for listener in self._listeners:
            for event in events:
                listener(event)
        if not self._subscriptions:
            return
        for subscription in list(self._subscriptions):
            for event in events:
                if subscription.topic.matches(event):
                    subscription.offer(event)

    def subscribe(self, topic: Topic, max_queued: int = 1000) -> MemorySubscription:
        subscription = MemorySubscription(self, topic, max_queued)
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: MemorySubscription) -> None:
        """Stop delivering to `subscription`."""
        self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions (tests check streams close cleanly)."""
        return len(self._subscriptions)

    async def send_control(self, message: Control) -> None:
        for handler in self._handlers:
            await handler(message)

    def on_control(self, handler: ControlHandler) -> None:
        self._handlers.append(handler)
