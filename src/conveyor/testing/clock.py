"""`VirtualClock`: time that jumps ahead whenever the program is idle, so durable
sleeps, timeouts, backoffs and lease expiry take no real time in tests.

The clock jumps only when nothing else can run: the event loop has no ready
callbacks, no real-time timer due within `REAL_TIMER_HORIZON_S` (a test polling with
`wait_until` keeps virtual time still), and no store operation in flight (stores
`hold()` the clock around real I/O). Network I/O outside conveyor is not tracked:
wrap such waits in `hold()`, or use the system clock for those tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
from collections.abc import Iterator

DEFAULT_START = 1_767_225_600.0  # 2026-01-01T00:00:00Z: far from the real now


class VirtualClock:
    """A clock for tests. `autojump` (default) skips idle time; `advance()` moves
    time by hand."""

    def __init__(self, start: float = DEFAULT_START, *, autojump: bool = True) -> None:
        self._now = start
        self.autojump = autojump
        self._timers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._holds = 0
        self._driver: asyncio.Task[None] | None = None
        self._wakeup: asyncio.Event | None = None
        self.jumps = 0

    def now(self) -> float:
        return self._now

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self._now + seconds, next(self._order), future))
        self._ensure_driver()
        await future

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        self._holds += 1
        try:
            yield
        finally:
            self._holds -= 1

    def advance(self, seconds: float) -> None:
        """Move time forward by `seconds` and wake every timer now due."""
        self._now += max(0.0, seconds)
        self._fire_due()

    @property
    def pending_timers(self) -> int:
        """Timers still waiting."""
        return sum(1 for _, _, future in self._timers if not future.done())

    def _fire_due(self) -> None:
        while self._timers and (
            self._timers[0][2].done() or self._timers[0][0] <= self._now
        ):
            _, _, future = heapq.heappop(self._timers)
            if not future.done():
                future.set_result(None)

    def _ensure_driver(self) -> None:
        if not self.autojump:
            return
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        self._wakeup.set()
        if self._driver is None or self._driver.done():
            self._driver = asyncio.get_running_loop().create_task(
                self._drive(), name="virtual-clock"
            )

    async def _drive(self) -> None:
        """Jump to the next timer each time the loop goes idle."""
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            self._fire_due()
            if not self._timers:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            if not await self._idle(loop):
                continue
            deadline = self._timers[0][0]
            if deadline > self._now:
                self._now = deadline
                self.jumps += 1
            self._fire_due()

    async def _idle(self, loop: asyncio.AbstractEventLoop) -> bool:
        """True once the loop had nothing else to run for a few turns in a row."""
        for _ in range(3):
            if self._holds:
                await asyncio.sleep(0.0002)  # real I/O in flight: let it finish
                return False
            await asyncio.sleep(0)
            ready = getattr(loop, "_ready", None)
            if ready is not None and len(ready) > 0:
                return False
            if _real_timer_due(loop):
                await asyncio.sleep(0.001)  # someone waits on real time: let it
                return False
        return not self._holds

    async def aclose(self) -> None:
        """Stop the driver task (the `virtual_clock` fixture does this)."""
        if self._driver is not None:
            self._driver.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._driver
            self._driver = None


REAL_TIMER_HORIZON_S = 0.05


def _real_timer_due(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether a real-time timer (e.g. `asyncio.sleep(0.01)`) fires soon."""
    scheduled = getattr(loop, "_scheduled", ())
    horizon = loop.time() + REAL_TIMER_HORIZON_S
    return any(
        not handle.cancelled() and handle.when() <= horizon for handle in scheduled
    )
