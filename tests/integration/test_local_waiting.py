"""Waiting for a run that executes in this process (embedded mode): the waiter is
told by the run's own end, and still gets the outcome when the run stops here
without ending and resumes later."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conveyor import workflow
from conveyor.runners.local import LocalRunner
from conveyor.testing import FakeAgent, wait_until


async def test_waiter_outlives_a_run_that_stops_here_without_ending(make_conveyor):
    """The run's task ends without a terminal event (as on shutdown or a lost
    lease): the waiter goes on waiting through the store and the bus, and gets the
    output of the run's next execution."""
    release = asyncio.Event()

    async def work(data: int) -> int:
        await release.wait()
        return data * 2

    agent = FakeAgent("work", work)

    @workflow
    async def doubled(run: Any, data: int) -> int:
        return int(await run.step(agent.agent, data))

    app = await make_conveyor(doubled)
    runner = app.runner
    assert isinstance(runner, LocalRunner)
    handle = await app.start(doubled, 21)
    waiter = asyncio.create_task(app.result(handle.run_id))
    await wait_until(lambda: agent.call_count == 1)

    runner.tasks[handle.run_id].cancel()  # stops here; the run stays unfinished
    await wait_until(lambda: handle.run_id not in runner.tasks)
    await asyncio.sleep(0.05)
    assert not waiter.done(), "the run has not ended: the waiter must still wait"

    release.set()
    assert await app.recover() == 1
    assert await asyncio.wait_for(waiter, 5) == 42
    assert agent.call_count == 2


async def test_waiter_timeout_leaves_nothing_behind(make_conveyor):
    """A waiter that times out raises `TimeoutError`; the run goes on, and a later
    waiter gets its output."""
    release = asyncio.Event()

    async def work(data: int) -> int:
        await release.wait()
        return data + 1

    agent = FakeAgent("slow", work)

    @workflow
    async def slow(run: Any, data: int) -> int:
        return int(await run.step(agent.agent, data))

    app = await make_conveyor(slow)
    handle = await app.start(slow, 1)
    with pytest.raises(TimeoutError):
        await app.result(handle.run_id, timeout_s=0.05)
    release.set()
    assert await app.result(handle.run_id, timeout_s=5) == 2
