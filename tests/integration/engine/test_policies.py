"""Agent policies inside workflows and in direct calls: retry, timeout, breaker."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import (
    AgentTimeoutError,
    BreakerPolicy,
    CircuitOpenError,
    RetryPolicy,
    RunFailedError,
    workflow,
)
from conveyor.policies import BreakerState
from conveyor.testing import (
    Delay,
    FailTimes,
    FakeAgent,
    InjectedError,
    Raise,
    VirtualClock,
    assert_events,
)


class PermanentError(Exception):
    """An error the retry filter must not retry."""


async def test_retry_backoff_and_retryable_filter(make_conveyor, virtual_clock):
    """Transient errors are retried with growing jittered backoff until success;
    errors outside the retryable filter fail at once and dead-letter the run."""
    retry = RetryPolicy(
        max_attempts=5,
        initial_backoff_s=1.0,
        multiplier=2.0,
        max_backoff_s=10.0,
        jitter=0.1,
        dont_retry_on=(PermanentError,),
    )
    flaky = FakeAgent("flaky", "ok", faults=[FailTimes(3)], retry=retry)
    permanent = FakeAgent(
        "permanent", "never", faults=[Raise(PermanentError("bad"))], retry=retry
    )

    @workflow
    async def uses_flaky(run: Any, data: None) -> str:
        return await run.step(flaky.agent)

    @workflow
    async def uses_permanent(run: Any, data: None) -> str:
        return await run.step(permanent.agent)

    app = await make_conveyor(uses_flaky, uses_permanent, clock=virtual_clock)
    started = virtual_clock.now()
    handle = await app.start(uses_flaky)
    assert await handle.result() == "ok"
    assert flaky.call_count == 4, f"expected 3 failures + 1 success, got {flaky.calls}"
    events = await assert_events(
        app,
        handle.run_id,
        ["step.started", "step.retrying", "step.retrying", "step.retrying",
         "step.completed", "run.completed"],
    )  # fmt: skip
    backoffs = [e.data["backoff_s"] for e in events if e.type == "step.retrying"]
    for got, base in zip(backoffs, [1.0, 2.0, 4.0], strict=True):
        assert base * 0.9 <= got <= base * 1.1, (
            f"backoff {got} not within 10% of {base}"
        )
    assert virtual_clock.now() - started >= sum(backoffs) - 1e-3, "backoffs waited"
    assert [c.idempotency_key for c in flaky.calls] == [
        flaky.calls[0].idempotency_key
    ] * 4

    failing = await app.start(uses_permanent)
    with pytest.raises(RunFailedError, match="PermanentError"):
        await failing.result()
    assert permanent.call_count == 1, "a non-retryable error must not be retried"
    letters = await app.dead_letters()
    assert [letter.run_id for letter in letters] == [failing.run_id]


async def test_agent_timeout(make_conveyor, virtual_clock):
    """An agent slower than its timeout raises AgentTimeoutError(agent_name, timeout),
    directly and inside a workflow (where the run fails with that error)."""
    slow = FakeAgent(
        "slow", "late", faults=[Delay(60)], clock=virtual_clock, timeout_s=5,
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip

    @workflow
    async def waits(run: Any, data: None) -> str:
        return await run.step(slow.agent)

    app = await make_conveyor(waits, slow.agent, clock=virtual_clock)
    with pytest.raises(AgentTimeoutError) as caught:
        await app.call("slow")
    assert (caught.value.agent_name, caught.value.timeout) == ("slow", 5)

    handle = await app.start(waits)
    with pytest.raises(RunFailedError, match="AgentTimeoutError"):
        await handle.result()
    run = await app.get_run(handle.run_id)
    assert run.error is not None and run.error["type"] == "AgentTimeoutError"


async def test_circuit_breaker_cycle(make_conveyor, virtual_clock):
    """closed → open after N failures (calls refused without running) → half-open
    after the cool-down → closed again after a successful probe."""
    outcomes: list[bool] = [False, False, False]

    def answer(data: Any) -> str:
        if outcomes and not outcomes.pop(0):
            raise InjectedError("down")
        return "up"

    fragile = FakeAgent(
        "fragile",
        answer,
        breaker=BreakerPolicy(failure_threshold=3, reset_timeout_s=30),
        retry=RetryPolicy(max_attempts=1),
    )
    app = await make_conveyor(fragile.agent, clock=virtual_clock)
    for _ in range(3):
        with pytest.raises(InjectedError):
            await app.call("fragile")
    breaker = app.runtime.breakers["fragile"]
    assert breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpenError) as refused:
        await app.call("fragile")
    assert fragile.call_count == 3, "an open circuit must not call the agent"
    assert refused.value.agent_name == "fragile"

    virtual_clock.advance(31)
    assert await app.call("fragile") == "up"
    assert breaker.state is BreakerState.CLOSED
    assert fragile.call_count == 4


async def test_direct_call_failure_in_half_open_reopens(make_conveyor):
    """A failed probe in half-open opens the circuit again."""
    clock = VirtualClock(autojump=False)
    fragile = FakeAgent(
        "fragile", None, faults=[Raise(InjectedError("down"))],
        breaker=BreakerPolicy(failure_threshold=1, reset_timeout_s=10),
        retry=RetryPolicy(max_attempts=1),
    )  # fmt: skip
    app = await make_conveyor(fragile.agent, clock=clock)
    with pytest.raises(InjectedError):
        await app.call("fragile")
    clock.advance(11)
    with pytest.raises(InjectedError):
        await app.call("fragile")
    assert app.runtime.breakers["fragile"].state is BreakerState.OPEN
