"""Agent hand-off: run-time registration, calls by name with a timeout, and the
execution log for direct calls and workflow steps."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from conveyor import AgentTimeoutError, HandoffManager, StepContext, workflow


class Forecast(BaseModel):
    """A typed context handed from one agent to the next."""

    total: int


async def demand(ctx: StepContext, category: str) -> Forecast:
    ctx.progress(0.5, f"forecasting {category}")
    return Forecast(total=8000)


async def inventory(forecast: Forecast) -> dict[str, int]:
    return {"forecast_received": forecast.total, "manufacturing_qty": 10000}


async def test_call_agent_by_name_and_log(make_conveyor):
    """Agents registered at run time are called by name; each call is logged with
    agent, status, start and duration, per session."""
    app = await make_conveyor()
    manager = HandoffManager(app)
    manager.register_agent("demand", demand)
    manager.register_agent("inventory", inventory)
    assert manager.agents == ["demand", "inventory"]
    forecast = await manager.call_agent("demand", "CAT001", session_id="s1")
    plan = await manager.call_agent("inventory", forecast, session_id="s1")
    assert plan == {"forecast_received": 8000, "manufacturing_qty": 10000}
    log = manager.execution_log(session_id="s1")
    assert [(e.agent, e.status) for e in log] == [
        ("demand", "success"),
        ("inventory", "success"),
    ]
    assert all(e.duration_s is not None and e.duration_s >= 0 for e in log)
    assert manager.execution_log(session_id="other") == []


async def test_call_agent_timeout_names_the_agent(make_conveyor):
    """A call slower than its timeout raises AgentTimeoutError naming the agent and
    the log records a timeout."""

    async def slow(data: Any) -> None:
        await asyncio.Event().wait()  # never answers

    app = await make_conveyor()
    manager = HandoffManager(app)
    manager.register_agent("slow", slow)
    with pytest.raises(AgentTimeoutError) as caught:
        await manager.call_agent("slow", None, timeout=0.05, session_id="s2")
    assert (caught.value.agent_name, caught.value.timeout) == ("slow", 0.05)
    [entry] = manager.execution_log(session_id="s2")
    assert (entry.agent, entry.status) == ("slow", "timeout")
    assert entry.error is not None and "AgentTimeoutError" in entry.error


async def test_log_covers_workflow_steps(make_conveyor):
    """Registered agents run as durable steps by name, and the log shows them."""
    app = await make_conveyor()
    manager = HandoffManager(app)
    manager.register_agent("demand", demand)
    manager.register_agent("inventory", inventory)

    @workflow
    async def plan(run: Any, category: str) -> dict[str, int]:
        forecast = await run.step("demand", category)
        return await run.step("inventory", forecast)

    app.register(plan)
    handle = await app.start(plan, "CAT001", session_id="s3")
    assert await handle.result() == {
        "forecast_received": 8000,
        "manufacturing_qty": 10000,
    }
    log = manager.execution_log(run_id=handle.run_id)
    assert [(e.agent, e.status) for e in log] == [
        ("demand", "success"),
        ("inventory", "success"),
    ]
    assert log[-1].session_id == "s3"


async def test_failed_step_keeps_the_error_details(make_conveyor):
    """A workflow step that times out fails the run with the original error's
    details (agent name and timeout) kept in the run's error."""

    async def slow(data: Any) -> None:
        await asyncio.Event().wait()  # never answers

    app = await make_conveyor()
    manager = HandoffManager(app)
    manager.register_agent("slow", slow, timeout_s=0.05)

    @workflow
    async def waits(run: Any, data: Any) -> None:
        await run.step("slow", data)

    app.register(waits)
    handle = await app.start(waits, None)
    with pytest.raises(Exception, match="timed out"):
        await handle.result()
    run = await app.get_run(handle.run_id)
    assert run.error is not None, "expected the failed run to keep its error"
    assert (run.error["type"], run.error["step"]) == ("AgentTimeoutError", "slow"), (
        f"expected an AgentTimeoutError in step slow, got {run.error}"
    )
    assert run.error["details"] == {"agent_name": "slow", "timeout": 0.05}, (
        f"expected the timeout's details, got {run.error.get('details')}"
    )
