"""Many planners at once: concurrent workflows on one server each stream only to
their own session, and all of them succeed."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from season_support import SeasonServer, read_until, run_workflow_body, until_connected

from conveyor_apps.season import Scenario, SeasonPlan

CATEGORIES = ["CAT001", "CAT002", "CAT003", "CAT004", "CAT005"]


@pytest.mark.parametrize("count", [5, 50])
async def test_concurrent_workflows(
    server: SeasonServer, scenarios: dict[str, Scenario], count: int
) -> None:
    """`count` workflows started at once all complete, each session's stream
    carries only its own run, and its plan is the one its planner asked for."""
    keys = list(scenarios)
    jobs = [
        (f"session-{i}", CATEGORIES[i % 5], scenarios[keys[i % 3]])
        for i in range(count)
    ]
    async with contextlib.AsyncExitStack() as stack:
        sockets = [
            await stack.enter_async_context(server.stream(session))
            for session, *_ in jobs
        ]
        await asyncio.gather(*(until_connected(ws) for ws in sockets))
        async with server.client() as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        "/api/orchestrator/run-workflow",
                        json=run_workflow_body(
                            scenario.description, category, session_id=session
                        ),
                    )
                    for session, category, scenario in jobs
                )
            )
        streams = await asyncio.gather(
            *(read_until(ws, "complete", "error") for ws in sockets)
        )
    statuses = [response.status_code for response in responses]
    assert statuses == [200] * count, f"expected {count} plans, got {statuses}"
    for (session, category, scenario), response, messages in zip(
        jobs, responses, streams, strict=True
    ):
        run_id = response.json()["run_id"]
        foreign = [
            m for m in messages if m["session_id"] != session or m["run_id"] != run_id
        ]
        assert not foreign, f"{session}: expected only run {run_id}, got {foreign[:3]}"
        assert messages[-1]["type"] == "complete", f"{session}: got {messages[-1]}"
        plan = SeasonPlan.model_validate(messages[-1]["result"])
        expected = (category, scenario.parameters, session)
        assert (plan.category_id, plan.parameters, plan.session_id) == expected, (
            f"{session}: expected {expected}, got "
            f"{(plan.category_id, plan.parameters, plan.session_id)}"
        )
        assert plan == SeasonPlan.model_validate(response.json()["plan"]), (
            f"{session}: expected the streamed plan to be the answered one"
        )
