"""Durable execution: replay checks, timers, signals, queries, fan-out, cancellation
and lease fencing."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from conveyor import (
    IllegalTransitionError,
    LeaseLostError,
    RunCancelledError,
    RunFailedError,
    RunStatus,
    StepContext,
    workflow,
)
from conveyor.store.base import WriteBatch
from conveyor.testing import (
    FakeAgent,
    Hang,
    VirtualClock,
    assert_events,
    paused_heartbeats,
    stored_events,
    wait_until,
)

DAY_S = 24 * 3600.0


async def test_nondeterminism_detected(make_conveyor, tmp_path):
    """A replay that calls a different step than history recorded fails the run with
    NonDeterminismError naming the step."""
    store_url = f"sqlite:///{tmp_path}/nd.db"
    first = FakeAgent("fetch", "data")
    stuck = FakeAgent("transform", "never", faults=[Hang(cooperative=False)])

    @workflow(name="etl")
    async def etl_v1(run: Any, data: None) -> str:
        await run.step(first.agent)
        return await run.step(stuck.agent)

    app = await make_conveyor(etl_v1, store_url=store_url)
    handle = await app.start("etl")
    await wait_until(lambda: stuck.call_count == 1)
    await app.aclose()  # the process "dies" in step 2

    changed = FakeAgent("load", "loaded")

    @workflow(name="etl")
    async def etl_v2(run: Any, data: None) -> str:
        return await run.step(changed.agent)  # step 1 is now a different step

    app2 = await make_conveyor(etl_v2, store_url=store_url)
    with pytest.raises(RunFailedError, match="NonDeterminismError"):
        await app2.result(handle.run_id)
    run = await app2.get_run(handle.run_id)
    assert run.error is not None
    assert "step #1" in run.error["message"] and "fetch" in run.error["message"]
    assert changed.call_count == 0, "a diverging replay must not run the new step"


async def test_signal_query_and_durable_sleep(make_conveyor, tmp_path):
    """Queries read the current state; a signal sent while no worker runs is kept
    and consumed after restart; a durable timer survives a restart and waits only
    the rest."""
    store_url = f"sqlite:///{tmp_path}/approval.db"
    virtual_clock = VirtualClock(autojump=False)  # time moves only when told

    @workflow(name="approval")
    async def approval(run: Any, data: None) -> dict[str, Any]:
        run.set_query("status", "waiting")
        decision = await run.wait_for_signal("approve")
        run.set_query("status", "cooling-off")
        await run.sleep(2 * 3600)
        run.set_query("status", "done")
        return {"decision": decision}

    app = await make_conveyor(approval, store_url=store_url, clock=virtual_clock)
    handle = await app.start("approval")
    assert await wait_until(lambda: _query(app, handle.run_id)) == "waiting"
    await app.aclose()

    offline = await make_conveyor(
        approval, store_url=store_url, clock=virtual_clock, run_workers=False
    )
    await offline.signal(handle.run_id, "approve", {"by": "ana"})
    await offline.aclose()

    app2 = await make_conveyor(approval, store_url=store_url, clock=virtual_clock)
    await wait_until(lambda: _query(app2, handle.run_id), message="query answers")
    await wait_until(
        lambda: _has_event(app2, handle.run_id, "timer.started"), message="timer set"
    )
    timer = next(
        e for e in await stored_events(app2, handle.run_id) if e.type == "timer.started"
    )
    await app2.aclose()  # restart in the middle of the durable sleep

    virtual_clock.advance(3600)  # an hour passes while nothing runs
    app3 = await make_conveyor(approval, store_url=store_url, clock=virtual_clock)
    await wait_until(lambda: _count(app3, handle.run_id, "run.recovered", 2))
    await wait_until(lambda: virtual_clock.pending_timers > 0, message="sleeping again")
    assert await _query(app3, handle.run_id) == "cooling-off"
    virtual_clock.advance(timer.data["wake_at"] - virtual_clock.now())
    assert await app3.result(handle.run_id) == {"decision": {"by": "ana"}}
    assert await app3.query(handle.run_id, "status") == "done"
    fired_at = virtual_clock.now()
    assert timer.data["wake_at"] <= fired_at < timer.data["wake_at"] + 60, (
        f"the timer should fire at its recorded wake-up {timer.data['wake_at']}, "
        f"fired at {fired_at}"
    )
    await assert_events(
        app3, handle.run_id,
        ["run.started", "run.recovered", "signal.received", "timer.started",
         "run.recovered", "timer.fired", "run.completed"],
    )  # fmt: skip


async def _query(app: Any, run_id: str) -> Any:
    run = await app.get_run(run_id)
    return run.query_state.get("status")


async def _count(app: Any, run_id: str, type_: str, wanted: int) -> bool:
    events = await stored_events(app, run_id)
    return sum(event.type == type_ for event in events) == wanted


async def _has_event(app: Any, run_id: str, type_: str) -> bool:
    return any(event.type == type_ for event in await stored_events(app, run_id))


async def test_virtual_clock_skips_durable_sleep(make_conveyor, virtual_clock):
    """A 30-day durable sleep completes in well under a second of real time."""

    @workflow
    async def month(run: Any, data: None) -> float:
        before = run.now()
        await run.sleep(30 * DAY_S)
        return run.now() - before

    app = await make_conveyor(month, clock=virtual_clock)
    started = time.monotonic()
    slept = await app.run(month)
    elapsed = time.monotonic() - started
    assert slept >= 30 * DAY_S, f"expected 30 virtual days, got {slept / DAY_S:.2f}"
    assert elapsed < 1.0, f"30 virtual days took {elapsed:.3f} s of real time"


async def test_fan_out_fan_in(make_conveyor):
    """gather runs steps and child workflows concurrently within the bound and
    returns their results in call order, each checkpointed once."""
    running = 0
    peak = 0

    async def square(n: int) -> int:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.002)
        running -= 1
        return n * n

    @workflow
    async def child(run: Any, n: int) -> int:
        return await run.step(square, n) + 1

    @workflow
    async def parent(run: Any, count: int) -> dict[str, Any]:
        squares = await run.gather(
            *(run.step(square, n) for n in range(count)), limit=4
        )
        children = await run.gather(*(run.child(child, n) for n in range(3)))
        return {"squares": squares, "children": children}

    app = await make_conveyor(parent, child)
    handle = await app.start(parent, 20)
    result = await handle.result()
    assert result == {"squares": [n * n for n in range(20)], "children": [1, 2, 5]}
    assert peak <= 4, f"concurrency bound 4 exceeded: peak {peak}"
    steps = await app.store.load_steps(handle.run_id)
    assert sorted(steps) == list(range(1, 24)), f"step ids: {sorted(steps)}"
    assert all(record.status == "completed" for record in steps.values())
    children = [
        run for run in await _all_runs(app) if run.parent_run_id == handle.run_id
    ]
    assert len(children) == 3 and {run.status for run in children} == {
        RunStatus.COMPLETED
    }


async def _all_runs(app: Any) -> list[Any]:
    from conveyor.store.base import RunQuery

    return await app.list_runs(RunQuery(tenant=None, limit=100))


async def test_cancel_run(make_conveyor):
    """Cancelling a queued run ends it before it starts; cancelling a running run
    records run.cancelled; an ended run cannot be cancelled."""
    blocker = FakeAgent("blocker", "x", faults=[Hang(cooperative=True)])
    quick = FakeAgent("quick", "done")

    @workflow
    async def blocking(run: Any, data: None) -> str:
        return await run.step(blocker.agent)

    @workflow
    async def fast(run: Any, data: None) -> str:
        return await run.step(quick.agent)

    app = await make_conveyor(blocking, fast)
    running = await app.start(blocking, key="k")
    queued = await app.start(fast, key="k")
    await wait_until(lambda: blocker.call_count == 1)

    cancelled = await app.cancel(queued.run_id)
    assert cancelled.status is RunStatus.CANCELLED
    await app.cancel(running.run_id)
    with pytest.raises(RunCancelledError):
        await running.result()
    assert quick.call_count == 0, "a run cancelled while queued must never run"
    await assert_events(app, running.run_id, ["step.started", "run.cancelled"])
    await assert_events(
        app, queued.run_id, ["run.submitted", "run.cancelled"], exact=True
    )

    done = await app.start(fast)
    await done.result()
    with pytest.raises(IllegalTransitionError):
        await app.cancel(done.run_id)


async def test_cancel_reaches_running_step(make_conveyor, virtual_clock):
    """A running step sees the cancel token at once; a step that ignores it is
    preempted after the grace period. Both runs end cancelled."""
    seen: list[bool] = []

    async def polite(ctx: StepContext, data: None) -> str:
        await ctx.cancel_requested.wait()
        seen.append(ctx.cancelled)
        return "stopped early"

    stubborn = FakeAgent("stubborn", "x", faults=[Hang(cooperative=False)])

    @workflow
    async def cooperative(run: Any, data: None) -> str:
        await run.step(polite)
        return await run.step(polite)

    @workflow
    async def uncooperative(run: Any, data: None) -> str:
        return await run.step(stubborn.agent)

    app = await make_conveyor(
        cooperative, uncooperative, clock=virtual_clock, cancel_grace_s=30
    )
    first = await app.start(cooperative)
    second = await app.start(uncooperative)
    await wait_until(lambda: stubborn.call_count == 1)
    await wait_until(lambda: _has_event(app, first.run_id, "step.started"))
    began = virtual_clock.now()
    await app.cancel(first.run_id)
    await app.cancel(second.run_id)
    for handle in (first, second):
        with pytest.raises(RunCancelledError):
            await handle.result()
    assert seen == [True], "the step saw the token; the next step never started"
    assert virtual_clock.now() - began >= 30, "preemption waits for the grace period"
    await assert_events(app, second.run_id, ["step.started", "run.cancelled"])


async def test_stale_lease_writes_rejected(make_conveyor, virtual_clock):
    """A worker whose lease expired and was taken over cannot record anything: its
    late checkpoint is refused and the new owner's history stays clean."""
    release = asyncio.Event()

    async def slow(data: None) -> str:
        await release.wait()
        return "late result"

    @workflow
    async def leased(run: Any, data: None) -> str:
        return await run.step(slow)

    app = await make_conveyor(
        leased, clock=virtual_clock, lease_ttl_s=30, heartbeat_s=10
    )
    handle = await app.start(leased)
    await wait_until(lambda: _has_event(app, handle.run_id, "step.started"))
    with paused_heartbeats(app):  # worker A stalls past its lease
        virtual_clock.advance(31)
        taken = await app.store.acquire_lease(
            handle.run_id, "worker-b", virtual_clock.now(), 30
        )
        assert taken is not None and taken.owner == "worker-b"
        before = await stored_events(app, handle.run_id)
        release.set()  # worker A wakes up and tries to checkpoint
        await wait_until(
            lambda: handle.run_id not in app.runner.tasks, message="A stops"
        )
    assert await app.store.load_steps(handle.run_id) == {}, "no checkpoint from A"
    assert await stored_events(app, handle.run_id) == before, "no events from A"
    run = await app.get_run(handle.run_id)
    assert (run.owner, run.lease_epoch, run.status) == (
        "worker-b",
        taken.lease_epoch,
        RunStatus.RUNNING,
    )
    with pytest.raises(LeaseLostError):
        await app.store.write(WriteBatch(handle.run_id, taken.lease_epoch - 1))
    await app.store.write(WriteBatch(handle.run_id, taken.lease_epoch))


async def test_graceful_restarts_are_not_crashes(make_conveyor, tmp_path):
    """A run resumed after clean shutdowns is not counted as crashed, however many
    times the process restarts, and still completes."""
    store_url = f"sqlite:///{tmp_path}/restarts.db"
    clock = VirtualClock(autojump=False)

    @workflow(name="patient")
    async def patient(run: Any, data: None) -> str:
        await run.sleep(3600)
        return "woke"

    app = await make_conveyor(patient, store_url=store_url, clock=clock)
    handle = await app.start("patient")
    await wait_until(lambda: _has_event(app, handle.run_id, "timer.started"))
    await app.aclose()
    for restart in range(1, 6):
        again = await make_conveyor(patient, store_url=store_url, clock=clock)
        await wait_until(
            lambda a=again, n=restart: _count(a, handle.run_id, "run.recovered", n)
        )
        await again.aclose()
    final = await make_conveyor(patient, store_url=store_url, clock=clock)
    await wait_until(lambda: clock.pending_timers > 0)
    clock.advance(3600)
    assert await final.result(handle.run_id) == "woke"
    recovered = [
        e.data for e in await stored_events(final, handle.run_id)
        if e.type == "run.recovered"
    ]  # fmt: skip
    assert [data["crashed"] for data in recovered] == [False] * 6
    assert (await final.get_run(handle.run_id)).recoveries == 0
