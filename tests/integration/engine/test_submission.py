"""Submission semantics: idempotency keys, per-key ordering, dead letters."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conveyor import RetryPolicy, RunFailedError, RunStatus, workflow
from conveyor.testing import FailTimes, FakeAgent, assert_events


async def test_idempotency_key_returns_same_run(make_conveyor):
    """A second submission with the same (tenant, idempotency key) returns the first
    run, whatever its state; another tenant gets its own run."""
    echo = FakeAgent("echo", lambda data: data)

    @workflow
    async def once(run: Any, data: int) -> int:
        return await run.step(echo.agent, data)

    app = await make_conveyor(once)
    first = await app.start(once, 1, idempotency_key="order-42")
    assert first.created
    assert await first.result() == 1
    again = await app.start(once, 2, idempotency_key="order-42")
    assert (again.run_id, again.created) == (first.run_id, False)
    assert await again.result() == 1, "the existing run's output, not a new one"
    other = await app.start(once, 3, idempotency_key="order-42", tenant="other")
    assert other.created and other.run_id != first.run_id
    assert await other.result() == 3
    assert echo.call_count == 2

    racers = await asyncio.gather(
        *(app.start(once, 9, idempotency_key="race") for _ in range(20))
    )
    assert len({handle.run_id for handle in racers}) == 1
    assert sum(handle.created for handle in racers) == 1


async def test_per_key_ordering(make_conveyor):
    """Runs with the same key start in submission order and never overlap; runs of
    other keys proceed in parallel."""
    active: dict[str, int] = {}
    overlaps: list[str] = []
    started: list[tuple[str, int]] = []
    gate = asyncio.Event()

    async def work(data: dict[str, Any]) -> int:
        key = data["key"]
        active[key] = active.get(key, 0) + 1
        if active[key] > 1:
            overlaps.append(key)
        started.append((key, data["n"]))
        if key == "a" and data["n"] == 0:
            await gate.wait()  # hold key "a" until key "b" has fully finished
        await asyncio.sleep(0.001)
        active[key] -= 1
        return int(data["n"])

    @workflow
    async def keyed(run: Any, data: dict[str, Any]) -> int:
        return await run.step(work, data)

    app = await make_conveyor(keyed)
    handles = [
        await app.start(keyed, {"key": key, "n": n}, key=key)
        for n in range(10)
        for key in ("a", "b")
    ]
    b_handles = handles[1::2]
    await asyncio.gather(*(handle.result() for handle in b_handles))
    assert [n for key, n in started if key == "a"] == [0], "a must wait for a/0"
    gate.set()
    await asyncio.gather(*(handle.result() for handle in handles))
    assert not overlaps, f"runs with the same key overlapped: {overlaps}"
    for key in ("a", "b"):
        order = [n for k, n in started if k == key]
        assert order == list(range(10)), f"key {key} ran in order {order}"


async def test_dead_letter_and_replay(make_conveyor, virtual_clock):
    """A run whose step exhausts its retries fails and is dead-lettered with its last
    error and attempts; replay resumes from the failed step, keeping completed ones."""
    first = FakeAgent("first", "one")
    broken = FakeAgent(
        "broken", "two", faults=[FailTimes(3)],
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=1),
    )  # fmt: skip

    @workflow
    async def fragile(run: Any, data: None) -> list[str]:
        return [await run.step(first.agent), await run.step(broken.agent)]

    app = await make_conveyor(fragile, clock=virtual_clock)
    handle = await app.start(fragile)
    with pytest.raises(RunFailedError, match="InjectedError"):
        await handle.result()
    run = await app.get_run(handle.run_id)
    assert run.status is RunStatus.DEAD
    [letter] = await app.dead_letters()
    assert (letter.run_id, letter.attempts) == (handle.run_id, 3)
    assert letter.error["type"] == "InjectedError"
    await assert_events(
        app, handle.run_id, ["step.failed", "run.failed", "run.dead_lettered"]
    )

    replayed = await app.replay(letter.id)
    assert await replayed.result() == ["one", "two"]
    assert first.call_count == 1, "the completed step must not run again"
    assert broken.call_count == 4
    assert await app.dead_letters() == [], "a replayed letter leaves the list"
    await assert_events(
        app, handle.run_id, ["run.dead_lettered", "run.replayed", "run.started",
                             "step.completed", "run.completed"],
    )  # fmt: skip
