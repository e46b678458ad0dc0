"""Fault injection and fake agents: make an agent fail on its n-th call, fail a few
times, hang, wait, raise, or kill the whole process — without patching internals."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..agents import Agent, StepContext, make_agent
from ..app import Conveyor
from ..clock import Clock, SystemClock
from ..policies import BreakerPolicy, RetryPolicy
from ..runners.local import LocalRunner


class InjectedError(RuntimeError):
    """The default error a fault raises."""


class Fault:
    """Something that happens on some calls of a `FakeAgent`."""

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        """Act on call number `call` (1-based): return to let it proceed."""


@dataclass(frozen=True, slots=True)
class FailNth(Fault):
    """Raise `error` on call number `n` only."""

    n: int
    error: BaseException = field(default_factory=lambda: InjectedError("injected"))

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        if call == self.n:
            raise self.error


@dataclass(frozen=True, slots=True)
class FailTimes(Fault):
    """Raise `error` on the first `times` calls, then succeed."""

    times: int
    error: BaseException = field(default_factory=lambda: InjectedError("injected"))

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        if call <= self.times:
            raise self.error


@dataclass(frozen=True, slots=True)
class Raise(Fault):
    """Raise `error` on every call."""

    error: BaseException

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        raise self.error


@dataclass(frozen=True, slots=True)
class Delay(Fault):
    """Wait `seconds` (on the app's clock) before answering; on `calls` only if
    given."""

    seconds: float
    calls: Sequence[int] | None = None

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        if self.calls is None or call in self.calls:
            await clock.sleep(self.seconds)


@dataclass(frozen=True, slots=True)
class Hang(Fault):
    """Never answer: until the run is cancelled (`cooperative`) or forever."""

    cooperative: bool = True

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        if self.cooperative:
            await ctx.cancel_requested.wait()
            raise asyncio.CancelledError("cancel requested")
        await asyncio.Event().wait()


@dataclass(frozen=True, slots=True)
class Crash(Fault):
    """SIGKILL this process on call `n` — once: `marker` records that it happened,
    so the recovered process gets past it."""

    marker: Path
    n: int = 1

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        if call == self.n and not self.marker.exists():
            self.marker.write_text(f"crashed in {ctx.name} ({ctx.idempotency_key})")
            os.kill(os.getpid(), signal.SIGKILL)


@contextlib.contextmanager
def paused_heartbeats(app: Conveyor) -> Iterator[None]:
    """Freeze the app's lease renewals, as a long GC pause or SIGSTOP would: its
    leases expire and another worker may take its runs over."""
    runner = app.runner
    if not isinstance(runner, LocalRunner):
        raise TypeError("paused_heartbeats needs an app that executes runs")
    runner.heartbeats.clear()
    try:
        yield
    finally:
        runner.heartbeats.set()


@dataclass(frozen=True, slots=True)
class Call:
    """One recorded call of a fake agent."""

    data: Any
    attempt: int
    idempotency_key: str
    run_id: str | None


class FakeAgent:
    """A scriptable agent that records its calls.

    Args:
        name: the agent's name.
        result: what to return, or a function of the input (sync or async).
        faults: applied in order on every call before answering.
        clock: the clock `Delay` waits on (pass the app's virtual clock).
        **policy: `timeout_s`, `retry`, `breaker`, `concurrency` of the agent.
    """

    def __init__(
        self,
        name: str,
        result: Any = None,
        *,
        faults: Sequence[Fault] = (),
        clock: Clock | None = None,
        timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
        breaker: BreakerPolicy | None = None,
        concurrency: int | None = None,
    ) -> None:
        self.name = name
        self.result = result
        self.faults = list(faults)
        self.clock = clock or SystemClock()
        self.calls: list[Call] = []

        async def fake(ctx: StepContext, data: Any) -> Any:
            return await self._answer(ctx, data)

        fake.__name__ = name
        self.agent: Agent[Any] = make_agent(
            fake,
            name=name,
            timeout_s=timeout_s,
            retry=retry,
            breaker=breaker,
            concurrency=concurrency,
        )

    async def _answer(self, ctx: StepContext, data: Any) -> Any:
        self.calls.append(Call(data, ctx.attempt, ctx.idempotency_key, ctx.run_id))
        number = len(self.calls)
        for fault in self.faults:
            await fault.apply(number, ctx, self.clock)
        if callable(self.result):
            produced = self.result(data)
            if isinstance(produced, Awaitable):
                return await produced
            return produced
        return self.result

    @property
    def call_count(self) -> int:
        """How many times the agent was called (all attempts)."""
        return len(self.calls)
