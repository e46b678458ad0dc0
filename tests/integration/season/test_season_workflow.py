"""The season flow end to end in Python: parameters → context → Demand agent →
Inventory agent, with the mock and the real Demand agent, and its execution log."""

from __future__ import annotations

import itertools
from datetime import date, timedelta

import pytest
from season_support import MULTIPLIERS, check_plan

from conveyor.testing import assert_events
from conveyor_apps.season import (
    PlanRequest,
    Scenario,
    SeasonContext,
    SeasonOrchestrator,
    SeasonParameters,
    WeeklyPoint,
    assemble_context,
    clear_cache,
)
from conveyor_apps.season.context import load_history
from conveyor_apps.season.handoffs import ContextRequest, InventoryRequest
from conveyor_apps.season.inventory import InventoryPlan

AGENTS = ["parameters", "context", "demand", "inventory"]


def year_ago_pairs(curve: list[WeeklyPoint]) -> list[tuple[int, int]]:
    """(forecast units, CAT001's units in the history week 52 weeks earlier) for
    every forecast week the history covers (weeks start on different weekdays)."""
    history = load_history()
    sold = dict(
        zip(history.week_starts, history.category_totals["CAT001"], strict=True)
    )
    pairs = []
    for point in curve:
        year_ago = point.week_start - timedelta(weeks=52)
        for week, units in sold.items():
            if abs((week - year_ago).days) <= 3:
                pairs.append((point.units, units))
    return pairs


async def complete_workflow(
    orchestrator: SeasonOrchestrator, scenario: Scenario, session_id: str
) -> None:
    """Parameters → context → mock Demand → results, checked as the spec says."""
    params = scenario.parameters
    result = await orchestrator.forecast(
        scenario.description, "CAT001", session_id=session_id
    )
    assert result.parameters == params, (
        f"expected parameters {params}, got {result.parameters}"
    )
    forecast = result.forecast
    assert forecast.total_units == 8000, (
        f"expected the mock's 8000 units, got {forecast.total_units}"
    )
    expected_multiplier = MULTIPLIERS[params.replenishment_strategy]
    assert forecast.safety_stock_multiplier == expected_multiplier, (
        f"expected multiplier {expected_multiplier}, "
        f"got {forecast.safety_stock_multiplier}"
    )
    assert len(forecast.weekly_curve) == params.forecast_horizon_weeks, (
        f"expected {params.forecast_horizon_weeks} weekly points, "
        f"got {len(forecast.weekly_curve)}"
    )
    assert "Fashion_Forward" in forecast.clusters, (
        f"expected a Fashion_Forward cluster, got {sorted(forecast.clusters)}"
    )
    log = orchestrator.execution_log(session_id=session_id)
    assert [entry.agent for entry in log] == AGENTS[:3], (
        f"expected calls {AGENTS[:3]}, got {[entry.agent for entry in log]}"
    )
    assert (log[-1].agent, log[-1].status) == ("demand", "success"), (
        f"expected the last entry to be demand/success, got {log[-1]}"
    )
    for entry in log:
        assert entry.duration_s is not None and entry.duration_s >= 0, (
            f"expected a duration on every entry, got {entry}"
        )
        assert entry.error is None, f"expected no error, got {entry}"


async def test_complete_workflow_zara(
    mock_orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """Zara-style: parameters → context → mock Demand gives 8000 units, ×1.25."""
    await complete_workflow(mock_orchestrator, scenarios["zara_style"], "zara")


async def test_complete_workflow_standard(
    mock_orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """Standard retail: the mock Demand agent's forecast carries ×1.20 (weekly)."""
    await complete_workflow(mock_orchestrator, scenarios["standard_retail"], "std")


async def test_complete_workflow_luxury(
    mock_orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """Luxury: the mock Demand agent's forecast carries ×1.22 (bi-weekly)."""
    await complete_workflow(mock_orchestrator, scenarios["luxury"], "lux")


VARIANTS = [
    (
        "12-week season starting March 1 2025, no replenishment, nothing held back "
        "at the DC",
        SeasonParameters(
            forecast_horizon_weeks=12,
            season_start_date=date(2025, 3, 1),
            season_end_date=date(2025, 5, 24),
            replenishment_strategy="none",
            dc_holdback_percentage=0.0,
        ),
    ),
    (
        "Standard retail season: 26-week season starting May 15, 2025 with weekly "
        "replenishment and 45% held back at the DC",
        SeasonParameters(
            forecast_horizon_weeks=26,
            season_start_date=date(2025, 5, 15),
            season_end_date=date(2025, 11, 13),
            replenishment_strategy="weekly",
            dc_holdback_percentage=0.45,
        ),
    ),
    (
        "Luxury capsule: twenty-four weeks beginning 1 September 2025, restock every "
        "two weeks, hold back 60 percent at the distribution centre",
        SeasonParameters(
            forecast_horizon_weeks=24,
            season_start_date=date(2025, 9, 1),
            season_end_date=date(2026, 2, 16),
            replenishment_strategy="bi-weekly",
            dc_holdback_percentage=0.6,
        ),
    ),
]


async def test_parameter_extraction_scenarios(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """The three reference scenarios, and a plain-words variant of each, extract
    offline to the fixture's parameters."""
    for key, scenario in scenarios.items():
        got = await orchestrator.extract_parameters(scenario.description)
        assert got == scenario.parameters, (
            f"{key}: expected {scenario.parameters}, got {got}"
        )
    for text, expected in VARIANTS:
        got = await orchestrator.extract_parameters(text)
        assert got == expected, f"{text!r}: expected {expected}, got {got}"
    assert orchestrator.extractor_kind == "rules", (
        f"expected the offline extractor by default, got {orchestrator.extractor_kind}"
    )


async def test_historical_data_loading_and_context_assembly(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """52 weeks of history for 50 stores load from the fixtures, show seasonality,
    and the context agent hands over the same typed context."""
    clear_cache()
    params = scenarios["zara_style"].parameters
    history = load_history()
    assert history.category_ids == ("CAT001", "CAT002", "CAT003", "CAT004", "CAT005"), (
        f"expected five categories with history, got {history.category_ids}"
    )
    context = assemble_context("CAT001", params)
    assert len(context.week_starts) == 52, (
        f"expected 52 weeks, got {len(context.week_starts)}"
    )
    assert len(context.stores) == 50 and len(context.store_weekly_units) == 50, (
        f"expected 50 stores, got {len(context.stores)} / "
        f"{len(context.store_weekly_units)}"
    )
    weeks = list(context.week_starts)
    assert all(b - a == timedelta(weeks=1) for a, b in itertools.pairwise(weeks)), (
        "expected consecutive weeks"
    )
    totals = [
        sum(col) for col in zip(*context.store_weekly_units.values(), strict=True)
    ]
    assert totals == list(context.category_weekly_units), (
        "expected the category totals to be the sum of the stores"
    )
    peak, trough = max(totals), min(totals)
    assert peak > 1.3 * trough, f"expected seasonality, got peak {peak} trough {trough}"
    handed: SeasonContext = await orchestrator.handoff.call_agent(
        "context", ContextRequest(category_id="CAT001", parameters=params)
    )
    assert handed == context, "expected the context agent to hand over the same context"
    assert handed.parameters == params, "expected the context to carry the parameters"


async def test_agent_chain_demand_to_inventory(
    mock_orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario]
) -> None:
    """The Demand agent's 8000 units reach the Inventory agent: 10000 to make for
    Zara-style, and the other strategies' multipliers and holdbacks apply."""
    expected = {"zara_style": (10000, 0), "standard_retail": (9600, 4320),
                "luxury": (9760, 5856)}  # fmt: skip
    handoff = mock_orchestrator.handoff
    for key, (manufacturing, holdback) in expected.items():
        params = scenarios[key].parameters
        context = assemble_context("CAT001", params)
        forecast = await handoff.call_agent("demand", context, session_id=key)
        plan: InventoryPlan = await handoff.call_agent(
            "inventory",
            InventoryRequest(forecast=forecast, parameters=params),
            session_id=key,
        )
        assert plan.forecast_received == 8000, (
            f"{key}: expected forecast_received 8000, got {plan.forecast_received}"
        )
        assert (plan.manufacturing_qty, plan.dc_holdback_qty) == (
            manufacturing,
            holdback,
        ), (
            f"{key}: expected manufacturing {manufacturing} and holdback {holdback}, "
            f"got {plan.manufacturing_qty} and {plan.dc_holdback_qty}"
        )
        assert sum(plan.store_allocations.values()) == plan.initial_allocation_qty, (
            f"{key}: expected store allocations to add up to "
            f"{plan.initial_allocation_qty}"
        )
        log = [(e.agent, e.status) for e in handoff.execution_log(session_id=key)]
        assert log == [("demand", "success"), ("inventory", "success")], (
            f"{key}: expected demand then inventory, got {log}"
        )


@pytest.mark.parametrize("key", ["zara_style", "standard_retail", "luxury"])
async def test_complete_workflow_real_agents(
    orchestrator: SeasonOrchestrator, scenarios: dict[str, Scenario], key: str
) -> None:
    """The durable workflow with the real Demand agent plans every scenario with a
    forecast within sane bounds of last year's sales of the same weeks."""
    scenario = scenarios[key]
    params = scenario.parameters
    request = PlanRequest(
        strategy_description=scenario.description, category_id="CAT001"
    )
    handle = await orchestrator.start_plan(request, session_id=f"real-{key}")
    plan = await orchestrator.plan_result(handle.run_id)
    check_plan(plan, params.forecast_horizon_weeks, params.replenishment_strategy)
    assert plan.forecast.method != "mock", "expected the real statistical model"
    history = load_history()
    last_year = year_ago_pairs(plan.forecast.weekly_curve)
    assert len(last_year) >= 12, f"expected a year-ago week for most, got {last_year}"
    ratio = sum(f for f, _ in last_year) / sum(h for _, h in last_year)
    assert 0.8 <= ratio <= 1.5, (
        f"expected the forecast within 0.8-1.5x of the same weeks a year earlier, "
        f"got {ratio:.2f}"
    )
    peak = max(history.category_totals["CAT001"])
    for point in plan.forecast.weekly_curve:
        assert 0 < point.units <= 2 * peak, (
            f"expected 0 < units <= {2 * peak} in every week, got {point}"
        )
    log = orchestrator.execution_log(run_id=handle.run_id)
    assert [(e.agent, e.status) for e in log] == [(a, "success") for a in AGENTS], (
        f"expected four successful agent calls, got {log}"
    )
    await assert_events(
        orchestrator.conveyor,
        handle.run_id,
        ["run.started", *("step.completed" for _ in AGENTS), "run.completed"],
    )
