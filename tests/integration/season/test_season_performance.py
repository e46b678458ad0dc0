"""Generous time limits from the spec, so a regression by orders of magnitude fails
the suite; the real figures come from `benchmarks/season.py`."""

from __future__ import annotations

import time

from season_support import SeasonServer, check_plan, run_workflow_body

from conveyor_apps.season import Scenario, SeasonPlan, assemble_context, clear_cache

WORKFLOW_LIMIT_S = 10.0
CONTEXT_LIMIT_S = 2.0


async def test_workflow_performance(serve, scenarios: dict[str, Scenario]) -> None:
    """A whole plan with the real agents, over HTTP, takes well under 10 s."""
    server: SeasonServer = await serve(mock=False)
    scenario = scenarios["standard_retail"]
    async with server.client() as client:
        started = time.perf_counter()
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(scenario.description, "CAT002"),
        )
        elapsed = time.perf_counter() - started
    assert response.status_code == 200, f"expected 200, got {response.text}"
    assert elapsed < WORKFLOW_LIMIT_S, (
        f"expected the workflow within {WORKFLOW_LIMIT_S} s, took {elapsed:.2f} s"
    )
    check_plan(SeasonPlan.model_validate(response.json()["plan"]), 26, "weekly")


def test_context_assembly_performance(scenarios: dict[str, Scenario]) -> None:
    """Assembling a context takes well under 2 s, from cold files included."""
    params = scenarios["zara_style"].parameters
    clear_cache()
    started = time.perf_counter()
    context = assemble_context("CAT001", params)
    cold = time.perf_counter() - started
    started = time.perf_counter()
    for category in ("CAT002", "CAT003", "CAT004", "CAT005"):
        assemble_context(category, params)
    warm = (time.perf_counter() - started) / 4
    assert len(context.store_weekly_units) == 50, "expected a full context"
    assert cold < CONTEXT_LIMIT_S, (
        f"expected cold < {CONTEXT_LIMIT_S} s, got {cold:.3f}"
    )
    assert warm < CONTEXT_LIMIT_S, (
        f"expected warm < {CONTEXT_LIMIT_S} s, got {warm:.3f}"
    )
