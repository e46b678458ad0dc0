"""Testing a workflow with conveyor's test kit: the `make_conveyor` and
`virtual_clock` fixtures come from the pytest plugin that installing conveyor
registers, so this file needs no conftest.

Run it with `uv run pytest examples -q -p no:cacheprovider`.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from conveyor import (
    AgentTimeoutError,
    Conveyor,
    RetryPolicy,
    RunContext,
    RunFailedError,
    RunStatus,
    workflow,
)
from conveyor.bus.base import Topic
from conveyor.testing import (
    Crash,
    Delay,
    EventCapture,
    FailTimes,
    FakeAgent,
    VirtualClock,
    assert_events,
    paused_heartbeats,
    stored_events,
    wait_until,
)

DAY_S = 24 * 3600.0


@workflow
async def ship_order(run: RunContext, order_id: str) -> str:
    """Pack, charge, ship: steps named by agent, so each test (and each process)
    registers its own fake agents under these names."""
    parcel = await run.step("pack", order_id)
    await run.step("charge", order_id)
    return str(await run.step("ship", parcel))


def fakes(**overrides: FakeAgent) -> list[FakeAgent]:
    """Fake pack/charge/ship agents that answer at once, with some replaced."""
    agents = {
        "pack": FakeAgent("pack", lambda order: f"parcel-{order}"),
        "charge": FakeAgent("charge", "paid"),
        "ship": FakeAgent("ship", lambda parcel: f"shipped {parcel}"),
    }
    agents.update(overrides)
    return list(agents.values())


async def test_retries_reuse_the_idempotency_key(make_conveyor, virtual_clock):
    """A step that fails twice is retried to success, and every attempt gets the same
    idempotency key; the backoffs take no real time."""
    charge = FakeAgent("charge", "paid", faults=[FailTimes(2)])
    app = await make_conveyor(
        ship_order, *(fake.agent for fake in fakes(charge=charge)), clock=virtual_clock
    )

    handle = await app.start(ship_order, "o-1")

    assert await handle.result() == "shipped parcel-o-1"
    assert charge.call_count == 3, f"2 failures + 1 success, got {charge.calls}"
    keys = {call.idempotency_key for call in charge.calls}
    assert keys == {f"{handle.run_id}:2"}, f"one key for all attempts, got {keys}"
    await assert_events(
        app,
        handle.run_id,
        ["run.started", "step.retrying", "step.retrying", "step.completed",
         "run.completed"],
    )  # fmt: skip


async def test_durable_sleep_is_skipped(make_conveyor, virtual_clock):
    """With autojump, a 30-day durable sleep ends as soon as nothing else can run."""

    @workflow
    async def reminder(run: RunContext, data: None) -> float:
        before = run.now()
        await run.sleep(30 * DAY_S)
        return run.now() - before

    app = await make_conveyor(reminder, clock=virtual_clock)

    assert await app.run(reminder) >= 30 * DAY_S


async def test_time_moves_only_when_told(make_conveyor):
    """With `autojump=False` a timer fires only once `advance()` reaches it."""
    clock = VirtualClock(autojump=False)

    @workflow
    async def nap(run: RunContext, data: None) -> str:
        await run.sleep(3600)
        return "awake"

    app = await make_conveyor(nap, clock=clock)
    handle = await app.start(nap)

    async def sleeping() -> bool:
        events = await stored_events(app, handle.run_id)
        return any(event.type == "timer.started" for event in events)

    await wait_until(sleeping, message="the run sleeps")

    clock.advance(3599)
    await asyncio.sleep(0.01)
    assert (await app.get_run(handle.run_id)).status is RunStatus.RUNNING
    clock.advance(1)
    assert await handle.result(timeout_s=5) == "awake"


async def test_dead_letter_and_replay(make_conveyor, virtual_clock):
    """A step that exhausts its retries dead-letters the run; replay resumes at that
    step, and steps that completed before it are not run again."""
    charge = FakeAgent(
        "charge", "paid", faults=[FailTimes(2)], retry=RetryPolicy(max_attempts=2)
    )
    agents = fakes(charge=charge)
    app = await make_conveyor(
        ship_order, *(fake.agent for fake in agents), clock=virtual_clock
    )
    handle = await app.start(ship_order, "o-2")
    with pytest.raises(RunFailedError, match="InjectedError"):
        await handle.result()
    [letter] = await app.dead_letters()
    assert letter.run_id == handle.run_id

    replayed = await app.replay(letter.id)

    assert await replayed.result() == "shipped parcel-o-2"
    pack = agents[0]
    assert pack.call_count == 1, "pack completed before the failure: not run again"
    assert charge.call_count == 3
    await assert_events(
        app, handle.run_id, ["run.dead_lettered", "run.replayed", "run.completed"]
    )


async def test_live_events_and_timeouts(make_conveyor, virtual_clock):
    """EventCapture sees every published event; a step slower than its timeout fails
    with AgentTimeoutError (Delay waits on the virtual clock)."""
    slow = FakeAgent(
        "ship",
        "late",
        faults=[Delay(60)],
        clock=virtual_clock,
        timeout_s=5,
        retry=RetryPolicy(max_attempts=1),
    )
    app = await make_conveyor(
        ship_order, *(fake.agent for fake in fakes(ship=slow)), clock=virtual_clock
    )

    async with EventCapture(app, Topic(tenant="acme")) as capture:
        handle = await app.start(ship_order, "o-3", tenant="acme")
        with pytest.raises(RunFailedError, match="AgentTimeoutError"):
            await handle.result()

    types = capture.types(handle.run_id)
    assert types[-2:] == ["run.failed", "run.dead_lettered"], types
    assert types.count("step.completed") == 2, "pack and charge completed"
    run = await app.get_run(handle.run_id)
    assert run.error is not None
    assert run.error["type"] == AgentTimeoutError.__name__


async def test_resume_after_sigkill(make_conveyor, tmp_path):
    """A process killed in the middle of a step is recovered by the next one: the
    completed step is not run again, the interrupted one runs again with the same
    idempotency key."""
    store_url = f"sqlite:///{tmp_path}/orders.db"
    marker = tmp_path / "crashed"
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, store_url, str(marker)
    )
    assert await child.wait() == -9, "the child should die by SIGKILL"

    agents = fakes(charge=FakeAgent("charge", "paid", faults=[Crash(marker)]))
    app = await make_conveyor(
        ship_order, *(fake.agent for fake in agents), store_url=store_url
    )
    # The same idempotency key finds the run the dead process started.
    handle = await app.start(ship_order, "o-4", idempotency_key="order-o-4")
    assert not handle.created

    assert await handle.result() == "shipped parcel-o-4"
    pack, charge, _ = agents
    assert pack.call_count == 0, "pack's checkpoint was durable before charge began"
    assert charge.calls[0].idempotency_key in marker.read_text()
    await assert_events(app, handle.run_id, ["run.recovered", "run.completed"])


async def test_stale_worker_cannot_write(make_conveyor, virtual_clock):
    """A worker whose heartbeats stall loses its lease; once another worker takes the
    run, the stale worker's checkpoint is refused."""
    release = asyncio.Event()

    async def slow_pack(order: str) -> str:
        await release.wait()
        return f"parcel-{order}"

    pack = FakeAgent("pack", slow_pack)
    app = await make_conveyor(
        ship_order,
        *(fake.agent for fake in fakes(pack=pack)),
        clock=virtual_clock,
        lease_ttl_s=30,
        heartbeat_s=10,
    )
    handle = await app.start(ship_order, "o-5")
    await wait_until(lambda: pack.call_count == 1)

    with paused_heartbeats(app):
        virtual_clock.advance(31)  # the lease expires
        taken = await app.store.acquire_lease(
            handle.run_id, "worker-b", virtual_clock.now(), 30
        )
        assert taken is not None
        release.set()  # the stale worker finishes its step and tries to record it
        await wait_until(lambda: handle.run_id not in app.runner.tasks)

    assert await app.store.load_steps(handle.run_id) == {}, "no stale checkpoint"
    run = await app.get_run(handle.run_id)
    assert (run.owner, run.lease_epoch) == ("worker-b", taken.lease_epoch)


async def _crashing_process(store_url: str, marker: Path) -> None:
    """The child of `test_resume_after_sigkill`: SIGKILLs itself inside `charge`."""
    agents = fakes(charge=FakeAgent("charge", "paid", faults=[Crash(marker)]))
    app = Conveyor(
        store_url=store_url,
        workflows=[ship_order],
        agents=[fake.agent for fake in agents],
    )
    async with app:
        await app.run(ship_order, "o-4", idempotency_key="order-o-4")


if __name__ == "__main__":
    asyncio.run(_crashing_process(sys.argv[1], Path(sys.argv[2])))
