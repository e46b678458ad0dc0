"""VirtualClock: timers fire in deadline order when time is moved by hand, and
idle time is skipped when autojump is on."""

from __future__ import annotations

import asyncio
import time

from conveyor.testing import VirtualClock
from conveyor.testing.clock import DEFAULT_START


async def _settle() -> None:
    """Let woken tasks run (loop turns only, no real time)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_advance_fires_due_timers_in_order():
    """advance() wakes exactly the timers now due, earliest first (ties in the
    order they were set), and never moves time backwards."""
    clock = VirtualClock(autojump=False)
    woke: list[str] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append(name)

    tasks = [
        asyncio.create_task(sleeper(name, seconds))
        for name, seconds in (("c", 3.0), ("a", 1.0), ("b1", 2.0), ("b2", 2.0))
    ]
    await _settle()
    assert clock.pending_timers == 4, f"expected 4 timers, got {clock.pending_timers}"
    clock.advance(1.5)
    await _settle()
    assert woke == ["a"], f"expected only a due at +1.5 s, got {woke}"
    clock.advance(-10)
    assert clock.now() == DEFAULT_START + 1.5, f"time went back: {clock.now()}"
    clock.advance(10)
    await asyncio.gather(*tasks)
    assert woke == ["a", "b1", "b2", "c"], f"expected deadline order, got {woke}"
    assert clock.pending_timers == 0, f"got {clock.pending_timers} timers left"


async def test_autojump_skips_idle_time():
    """With nothing else to do, an hour-long sleep ends at once, an hour later."""
    clock = VirtualClock()
    started = time.monotonic()
    try:
        await clock.sleep(3600)
        await clock.sleep(0)  # a zero sleep returns without a timer
    finally:
        await clock.aclose()
    elapsed = time.monotonic() - started
    assert clock.now() == DEFAULT_START + 3600, f"got {clock.now() - DEFAULT_START}"
    assert elapsed < 1.0, f"expected no real waiting, took {elapsed:.3f} s"
    assert clock.jumps == 1, f"expected one jump, got {clock.jumps}"


async def test_hold_keeps_time_still():
    """While real work is held, autojump waits; once released, it jumps."""
    clock = VirtualClock()
    try:
        with clock.hold():
            sleeper = asyncio.create_task(clock.sleep(60))
            for _ in range(50):
                await asyncio.sleep(0)
            assert not sleeper.done(), "expected no jump while held"
            assert clock.now() == DEFAULT_START, f"time moved: {clock.now()}"
        await sleeper
        assert clock.now() == DEFAULT_START + 60, f"got {clock.now() - DEFAULT_START}"
    finally:
        await clock.aclose()
