"""Demand forecasting: weekly curve, total units, store clusters and safety stock.

`forecast_demand` is the real model (see `seasonal_model`); `mock_forecast` is the
test kit's stand-in whose total is exactly 8000 units with the same clusters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .context import SeasonContext, StoreAttributes, load_history
from .parameters import ReplenishmentStrategy, SeasonParameters
from .rounding import apportion
from .seasonal_model import fit_seasonal_trend

ClusterName = Literal["Fashion_Forward", "Mainstream", "Value_Conscious"]
CLUSTER_NAMES: tuple[ClusterName, ...] = (
    "Fashion_Forward",
    "Mainstream",
    "Value_Conscious",
)
SAFETY_STOCK_MULTIPLIERS: Mapping[ReplenishmentStrategy, float] = {
    "none": 1.25,
    "bi-weekly": 1.22,
    "weekly": 1.20,
}
TIER_FASHION_SHIFT = {"premium": 0.15, "mid": 0.0, "value": -0.15}
FASHION_FORWARD_MIN_SCORE = 0.7
MAINSTREAM_MIN_SCORE = 0.35
MOCK_TOTAL_UNITS = 8000
STATISTICAL_METHOD = "log-linear trend x 3-harmonic seasonality + holiday (OLS)"


class WeeklyPoint(BaseModel):
    """Forecast units for the week starting on `week_start`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    week_start: date
    units: int = Field(ge=0)


class StoreCluster(BaseModel):
    """A group of similar stores and its share of the category's demand."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_ids: list[str]
    share: float = Field(ge=0.0, le=1.0, description="Share of total demand.")
    store_shares: dict[str, float] = Field(
        default_factory=dict, description="Each store's share within the cluster."
    )


class DemandForecast(BaseModel):
    """The Demand agent's output; `total_units` is the sum of the weekly curve."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category_id: str | None
    total_units: int = Field(ge=0)
    weekly_curve: list[WeeklyPoint] = Field(min_length=1)
    clusters: dict[ClusterName, StoreCluster] = Field(min_length=1)
    safety_stock_multiplier: float = Field(ge=1.0)
    method: str

    @model_validator(mode="after")
    def _curve_adds_up(self) -> Self:
        curve_units = sum(point.units for point in self.weekly_curve)
        if curve_units != self.total_units:
            raise ValueError(
                f"weekly_curve sums to {curve_units}, expected total_units "
                f"{self.total_units}"
            )
        return self


def safety_stock_multiplier(strategy: ReplenishmentStrategy) -> float:
    """Safety-stock multiplier: less replenishment means more stock up front."""
    return SAFETY_STOCK_MULTIPLIERS[strategy]


def cluster_of(store: StoreAttributes) -> ClusterName:
    """Cluster from attributes: fashion index shifted by price tier, then thresholds."""
    score = store.fashion_index + TIER_FASHION_SHIFT[store.price_tier]
    if score >= FASHION_FORWARD_MIN_SCORE:
        return "Fashion_Forward"
    if score >= MAINSTREAM_MIN_SCORE:
        return "Mainstream"
    return "Value_Conscious"


def cluster_stores(
    stores: Sequence[StoreAttributes],
    store_weekly_units: Mapping[str, Sequence[int]] | None = None,
) -> dict[ClusterName, StoreCluster]:
    """Group stores into the three clusters, weighting each store by its sales.

    Args:
        stores: Store attributes; membership comes from fashion index and tier.
        store_weekly_units: Sales history per store; without it (or with no sales)
            stores are weighted by floor space instead.

    Returns:
        Every cluster name, even an empty one, with store ids sorted.
    """
    weights = {store.store_id: float(store.size_sqft) for store in stores}
    if store_weekly_units is not None:
        sales = {sid: float(sum(store_weekly_units.get(sid, ()))) for sid in weights}
        if math.fsum(sales.values()) > 0:
            weights = sales
    members: dict[ClusterName, list[str]] = {name: [] for name in CLUSTER_NAMES}
    for store in stores:
        members[cluster_of(store)].append(store.store_id)
    grand_total = math.fsum(weights.values())
    clusters: dict[ClusterName, StoreCluster] = {}
    for name, store_ids in members.items():
        cluster_total = math.fsum(weights[sid] for sid in store_ids)
        clusters[name] = StoreCluster(
            store_ids=sorted(store_ids),
            share=cluster_total / grand_total if grand_total > 0 else 0.0,
            store_shares={
                sid: weights[sid] / cluster_total if cluster_total > 0 else 0.0
                for sid in sorted(store_ids)
            },
        )
    return clusters


def forecast_demand(context: SeasonContext) -> DemandForecast:
    """Forecast the season from the category's weekly history.

    Fits `seasonal_model.fit_seasonal_trend` to the category's weekly totals and
    evaluates it at each season week. Time is measured in weeks since the first
    history week, so a season week lands on the same point of the yearly cycle as
    the history week a year (52 weeks, 1.25 days' drift) earlier.
    """
    params = context.parameters
    model = fit_seasonal_trend(context.week_starts, context.category_weekly_units)
    expected = [model.predict(start) for start in _season_weeks(params)]
    return _build(
        context.category_id,
        params,
        round(math.fsum(expected)),
        expected,
        cluster_stores(context.stores, context.store_weekly_units),
        STATISTICAL_METHOD,
    )


def mock_forecast(
    params: SeasonParameters,
    context: SeasonContext | None = None,
    *,
    total_units: int = MOCK_TOTAL_UNITS,
) -> DemandForecast:
    """A deterministic stand-in forecast totalling exactly `total_units` (8000).

    The curve is a gentle hump over the horizon. Clusters come from `context` when
    given, otherwise from the packaged stores weighted by floor space.
    """
    horizon = params.forecast_horizon_weeks
    shape = [
        1.0 + 0.5 * math.sin(math.pi * (h + 0.5) / horizon) for h in range(horizon)
    ]
    if context is None:
        clusters = cluster_stores(load_history().stores)
    else:
        clusters = cluster_stores(context.stores, context.store_weekly_units)
    return _build(
        context.category_id if context else None,
        params,
        total_units,
        shape,
        clusters,
        "mock",
    )


def _season_weeks(params: SeasonParameters) -> list[date]:
    start = params.season_start_date
    return [start + timedelta(weeks=h) for h in range(params.forecast_horizon_weeks)]


def _build(
    category_id: str | None,
    params: SeasonParameters,
    total_units: int,
    weights: Sequence[float],
    clusters: dict[ClusterName, StoreCluster],
    method: str,
) -> DemandForecast:
    units = apportion(total_units, weights)
    curve = [
        WeeklyPoint(week_start=start, units=count)
        for start, count in zip(_season_weeks(params), units, strict=True)
    ]
    return DemandForecast(
        category_id=category_id,
        total_units=total_units,
        weekly_curve=curve,
        clusters=clusters,
        safety_stock_multiplier=safety_stock_multiplier(params.replenishment_strategy),
        method=method,
    )
