"""The hand-off manager as season planning uses it: agents replaced at run time,
refused when malformed, guarded by a circuit breaker, and an execution log that
stays bounded."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conveyor import CircuitOpenError, HandoffManager, agent
from conveyor.errors import ConfigurationError
from conveyor.policies import NO_RETRY, BreakerPolicy
from conveyor.testing import Delay, FakeAgent, InjectedError, Raise, wait_until
from conveyor_apps.season import (
    PlanRequest,
    Scenario,
    SeasonContext,
    SeasonOrchestrator,
    assemble_context,
    mock_forecast,
)


async def test_agents_are_replaced_at_run_time(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """A new Demand agent registered while the service runs — an `@agent` with its
    own policy, taking only the context — is used by the next plan."""
    assert orchestrator.handoff.agents == sorted(
        ["parameters", "context", "demand", "inventory"]
    ), f"got {orchestrator.handoff.agents}"

    @agent(name="demand", timeout_s=5.0, concurrency=2, retry=NO_RETRY)
    async def nine_thousand(context: SeasonContext) -> Any:
        return mock_forecast(context.parameters, context, total_units=9000)

    with pytest.raises(ConfigurationError, match="already registered"):
        orchestrator.handoff.register_agent("demand", nine_thousand)
    orchestrator.handoff.register_agent("demand", nine_thousand, replace=True)
    scenario = scenarios["zara_style"]
    plan = await orchestrator.plan(
        PlanRequest(strategy_description=scenario.description, category_id="CAT001")
    )
    assert (plan.forecast.total_units, plan.inventory.manufacturing_qty) == (
        9000,
        11250,
    ), f"expected 9000 → 11250, got {plan.forecast.total_units} → {plan.inventory}"


async def test_malformed_agents_are_refused(orchestrator: SeasonOrchestrator) -> None:
    """Registration refuses what could never be called, naming the problem; an
    agent whose annotations cannot be resolved is accepted, untyped."""
    handoff = orchestrator.handoff

    def not_async(data: Any) -> None:
        return None

    async def three(ctx: Any, data: Any, extra: Any) -> None:
        return None

    async def unresolvable(data: NoSuchType) -> Missing:  # type: ignore[name-defined]  # noqa: F821
        return data

    with pytest.raises(ConfigurationError, match="must be an async function"):
        handoff.register_agent("bad", not_async)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not 3 parameters"):
        handoff.register_agent("bad", three)
    with pytest.raises(ConfigurationError, match="timeout_s must be positive"):
        handoff.register_agent("bad", unresolvable, timeout_s=0)
    handoff.register_agent("echo", unresolvable)
    echoed = await handoff.call_agent("echo", {"x": 1})
    assert echoed == {"x": 1}, f"expected the input back, got {echoed}"


async def test_circuit_breaker_guards_a_failing_agent(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """A Demand agent that keeps failing opens its breaker: calls are refused at
    once without reaching it, and after the cool-down a good call closes it."""
    failing = FakeAgent(
        "demand",
        lambda context: mock_forecast(context.parameters, context),
        faults=[Raise(InjectedError("forecast service down"))],
        retry=NO_RETRY,
        breaker=BreakerPolicy(failure_threshold=2, reset_timeout_s=0.2),
    )
    handoff = orchestrator.handoff
    handoff.register_agent("demand", failing.agent, replace=True)
    context = assemble_context("CAT001", scenarios["luxury"].parameters)
    for _ in range(2):
        with pytest.raises(InjectedError):
            await handoff.call_agent("demand", context)
    with pytest.raises(CircuitOpenError) as refused:
        await handoff.call_agent("demand", context)
    assert refused.value.agent_name == "demand", f"got {refused.value}"
    assert failing.call_count == 2, f"expected 2 calls through, got {failing.calls}"
    await asyncio.sleep(0.25)
    failing.faults.clear()
    forecast = await handoff.call_agent("demand", context)
    assert forecast.total_units == 8000, f"got {forecast.total_units}"
    again = await handoff.call_agent("demand", context)
    assert again.total_units == 8000, f"expected the closed circuit to pass, {again}"


async def test_execution_log_is_bounded(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """A log keeps its most recent entries only, serialises them, and can be
    cleared — even with a call still running."""
    conveyor = orchestrator.conveyor
    short = HandoffManager(conveyor, max_entries=3)
    scenario = scenarios["standard_retail"]
    plan = await orchestrator.plan(
        PlanRequest(strategy_description=scenario.description, category_id="CAT002")
    )
    kept = short.execution_log(run_id=plan.run_id)
    assert [entry.agent for entry in kept] == ["context", "demand", "inventory"], (
        f"expected the last three calls, got {kept}"
    )
    entry = kept[-1].to_dict()
    assert (entry["agent"], entry["status"], entry["run_id"]) == (
        "inventory",
        "success",
        plan.run_id,
    ), f"got {entry}"
    slow = FakeAgent("slow", "done", faults=[Delay(0.2)], retry=NO_RETRY)
    short.register_agent("slow", slow.agent)
    call = asyncio.create_task(short.call_agent("slow", None, session_id="slow"))
    await wait_until(lambda: short.execution_log(session_id="slow"))
    short.clear()
    answer = await call
    assert answer == "done", f"expected the call to finish, got {answer!r}"
    assert short.execution_log() == [], f"expected an empty log, got {short._entries}"
