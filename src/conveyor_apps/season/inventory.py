"""Inventory planning: how much to make, how much the DC keeps, where the rest goes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from .demand import ClusterName, DemandForecast
from .parameters import ReplenishmentStrategy, SeasonParameters
from .rounding import apportion, round_half_up


class InventoryPlan(BaseModel):
    """The Inventory agent's output; allocations add up to `initial_allocation_qty`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category_id: str | None
    forecast_received: int = Field(ge=0, description="Forecast total units.")
    safety_stock_multiplier: float
    manufacturing_qty: int = Field(ge=0)
    replenishment_strategy: ReplenishmentStrategy
    dc_holdback_percentage: float = Field(ge=0.0, le=1.0)
    dc_holdback_qty: int = Field(ge=0)
    initial_allocation_qty: int = Field(
        ge=0, description="manufacturing_qty - dc_holdback_qty, shipped to stores."
    )
    cluster_allocations: dict[ClusterName, int]
    store_allocations: dict[str, int] = Field(
        description="Units per store; empty for clusters without store shares."
    )


def plan_inventory(forecast: DemandForecast, params: SeasonParameters) -> InventoryPlan:
    """Turn a demand forecast into a manufacturing and allocation plan.

    manufacturing = round(forecast × safety multiplier), holdback = round(
    manufacturing × DC holdback), both half-up; the remainder is split by cluster
    share and then by each store's share within its cluster, exactly.

    Args:
        forecast: The Demand agent's output; its multiplier is used as-is.
        params: The season strategy; supplies the DC holdback percentage.
    """
    manufacturing = round_half_up(
        forecast.total_units, forecast.safety_stock_multiplier
    )
    holdback = round_half_up(manufacturing, params.dc_holdback_percentage)
    to_stores = manufacturing - holdback
    names = list(forecast.clusters)
    cluster_units = apportion(to_stores, [forecast.clusters[n].share for n in names])
    store_allocations: dict[str, int] = {}
    for name, units in zip(names, cluster_units, strict=True):
        shares = forecast.clusters[name].store_shares
        if shares:
            split = apportion(units, list(shares.values()))
            store_allocations.update(zip(shares, split, strict=True))
    return InventoryPlan(
        category_id=forecast.category_id,
        forecast_received=forecast.total_units,
        safety_stock_multiplier=forecast.safety_stock_multiplier,
        manufacturing_qty=manufacturing,
        replenishment_strategy=params.replenishment_strategy,
        dc_holdback_percentage=params.dc_holdback_percentage,
        dc_holdback_qty=holdback,
        initial_allocation_qty=to_stores,
        cluster_allocations=dict(zip(names, cluster_units, strict=True)),
        store_allocations=store_allocations,
    )
