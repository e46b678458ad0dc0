"""The `Bus` interface: delivers events to live subscribers and control messages
(a run was submitted, signalled or asked to cancel) to runners.

The bus is a delivery hint, never the source of truth: every event is stored before
it is published, so a subscriber that missed something reads it from the store.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from ..events import Event

if TYPE_CHECKING:
    from ..clock import Clock
    from ..store.base import Store


@dataclass(frozen=True, slots=True)
class Control:
    """A message to whoever runs `run_id`: kind is submitted, signal or cancel."""

    kind: str
    run_id: str
    data: dict[str, Any] = field(default_factory=dict)


ControlHandler = Callable[[Control], Awaitable[None]]
EventListener = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class Topic:
    """Which events a subscriber wants: one run, one session, or a whole tenant;
    optionally only some event `types` (a waiter for the end wants no progress)."""

    run_id: str | None = None
    session_id: str | None = None
    tenant: str | None = None
    types: frozenset[str] | None = None

    def matches(self, event: Event) -> bool:
        """Whether `event` belongs to this topic."""
        if self.run_id is not None and event.run_id != self.run_id:
            return False
        if self.session_id is not None and event.session_id != self.session_id:
            return False
        if self.types is not None and event.type not in self.types:
            return False
        return self.tenant is None or event.tenant == self.tenant


class Subscription(abc.ABC):
    """A bounded stream of live events; raises `SlowConsumerError` on overflow."""

    @abc.abstractmethod
    def __aiter__(self) -> AsyncIterator[Event]: ...

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop receiving."""


class Bus(abc.ABC):
    """Event fan-out and control delivery."""

    distributes_runs: ClassVar[bool] = False
    """Runs are dispatched to worker processes through this bus (so the app runs
    the distributed worker runner instead of the in-process one)."""

    async def open(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Connect (nothing to do for in-process buses)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Disconnect."""

    def attach(self, store: Store, clock: Clock) -> None:  # noqa: B027 - optional
        """Before `open()`: the app's store (whose outbox a bus may relay) and clock."""

    def route_queues(  # noqa: B027 - optional hook, not abstract
        self, queues: Mapping[str, str], consume: Collection[str] | None = None
    ) -> None:
        """Before `open()`: the queue of each workflow (by name), and the queues
        this process takes runs from (None: all of them). Only buses that
        dispatch runs to workers use it."""

    async def flush(self) -> None:  # noqa: B027 - optional hook, not abstract
        """Wait until subscriptions made so far receive events (in-process buses
        deliver at once), so a read of the store after it leaves no gap."""

    @abc.abstractmethod
    def publish(self, events: list[Event]) -> None:
        """Deliver stored events to matching subscribers, in order. Never blocks:
        buses that need I/O queue the events and send them in the background."""

    @abc.abstractmethod
    def subscribe(self, topic: Topic, max_queued: int = 1000) -> Subscription:
        """Start receiving events of `topic`, at most `max_queued` buffered."""

    @abc.abstractmethod
    def add_listener(self, listener: EventListener) -> None:
        """Call `listener` synchronously for every event published (metrics, logs);
        it must be quick and must not raise."""

    @abc.abstractmethod
    async def send_control(self, message: Control) -> None:
        """Deliver a control message to the runners."""

    @abc.abstractmethod
    def on_control(self, handler: ControlHandler) -> None:
        """Register a runner's handler for control messages."""
