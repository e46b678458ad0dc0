"""Waiting without sleeping, and assertions on a run's events."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from ..app import Conveyor
from ..bus.base import Topic
from ..events import Event


async def wait_until(
    predicate: Callable[[], Any | Awaitable[Any]],
    timeout: float = 5.0,  # noqa: ASYNC109 - the documented signature; polls real time
    *,
    interval_s: float = 0.005,
    message: str = "",
) -> Any:
    """Poll `predicate` (sync or async) until it returns something truthy; return it.
    Raises `AssertionError` after `timeout` seconds of real time."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = predicate()
        if inspect.isawaitable(last):
            last = await last
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"condition not met within {timeout} s"
                + (f": {message}" if message else "")
                + f" (last value: {last!r})"
            )
        await asyncio.sleep(interval_s)


async def stored_events(app: Conveyor, run_id: str) -> list[Event]:
    """Every stored event of a run, in order."""
    events: list[Event] = []
    while True:
        batch = await app.store.read_events(run_id, events[-1].seq if events else 0)
        events.extend(batch)
        if len(batch) < 1000:
            return events


async def assert_events(
    app: Conveyor, run_id: str, expected: Sequence[str], *, exact: bool = False
) -> list[Event]:
    """Check the run's stored events: `seq` runs 1..N with no gap, and the types in
    `expected` appear in that order (all of them, and nothing else, if `exact`)."""
    events = await stored_events(app, run_id)
    seqs = [event.seq for event in events]
    assert seqs == list(range(1, len(events) + 1)), f"seq not gap-free: {seqs}"
    types = [event.type for event in events]
    if exact:
        assert types == list(expected), f"expected events {list(expected)}, got {types}"
        return events
    position = 0
    for wanted in expected:
        try:
            position = types.index(wanted, position) + 1
        except ValueError:
            raise AssertionError(
                f"expected {wanted!r} (in order {list(expected)}) among {types}"
            ) from None
    return events


class EventCapture:
    """Collects every event published while active (`async with EventCapture(app)`)."""

    def __init__(self, app: Conveyor, topic: Topic | None = None) -> None:
        self.app = app
        self.topic = topic or Topic()
        self.events: list[Event] = []
        self._active = False
        app.bus.add_listener(self._on_event)

    def _on_event(self, event: Event) -> None:
        if self._active and self.topic.matches(event):
            self.events.append(event)

    async def __aenter__(self) -> EventCapture:
        self._active = True
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._active = False

    def of_run(self, run_id: str) -> list[Event]:
        """Captured events of one run."""
        return [event for event in self.events if event.run_id == run_id]

    def types(self, run_id: str | None = None) -> list[str]:
        """Captured event types (of one run if given)."""
        events = self.of_run(run_id) if run_id else self.events
        return [event.type for event in events]
