"""Inventory plans: manufacturing, DC holdback and exact allocations."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from conveyor_apps.season import (
    SeasonContext,
    SeasonParameters,
    StoreCluster,
    forecast_demand,
    mock_forecast,
    plan_inventory,
)


@pytest.mark.parametrize(
    ("key", "manufacturing", "holdback"),
    [("zara_style", 10000, 0), ("standard_retail", 9600, 4320),
     ("luxury", 9760, 5856)],
)  # fmt: skip
def test_mock_chain_quantities(
    params_for: Callable[[str], SeasonParameters],
    key: str,
    manufacturing: int,
    holdback: int,
) -> None:
    """8000 forecast units become the expected manufacturing and holdback."""
    params = params_for(key)
    plan = plan_inventory(mock_forecast(params), params)
    assert plan.forecast_received == 8000
    assert plan.manufacturing_qty == manufacturing, (
        f"expected {manufacturing}, got {plan.manufacturing_qty}"
    )
    assert plan.dc_holdback_qty == holdback
    assert plan.initial_allocation_qty == manufacturing - holdback
    assert plan.replenishment_strategy == params.replenishment_strategy


@pytest.mark.parametrize("key", ["zara_style", "standard_retail", "luxury"])
def test_allocations_add_up(
    context_for: Callable[[str, str], SeasonContext], key: str
) -> None:
    """Cluster and store allocations each sum exactly to the initial allocation."""
    context = context_for("CAT005", key)
    plan = plan_inventory(forecast_demand(context), context.parameters)
    assert sum(plan.cluster_allocations.values()) == plan.initial_allocation_qty
    assert sum(plan.store_allocations.values()) == plan.initial_allocation_qty
    assert len(plan.store_allocations) == 50
    assert plan.category_id == "CAT005"


def test_clusters_without_store_shares_skip_stores(zara: SeasonParameters) -> None:
    """Clusters that carry no per-store shares get no per-store allocation."""
    forecast = mock_forecast(zara).model_copy(
        update={
            "clusters": {
                "Fashion_Forward": StoreCluster(store_ids=["A"], share=0.5),
                "Mainstream": StoreCluster(store_ids=["B"], share=0.5),
            }
        }
    )
    plan = plan_inventory(forecast, zara)
    assert plan.cluster_allocations == {"Fashion_Forward": 5000, "Mainstream": 5000}
    assert plan.store_allocations == {}
