"""Demand forecasts: curve shape, sanity bounds, clusters, safety stock, mock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from pydantic import ValidationError

from conveyor_apps.season import (
    DemandForecast,
    SeasonContext,
    SeasonParameters,
    StoreAttributes,
    StoreCluster,
    WeeklyPoint,
    cluster_stores,
    forecast_demand,
    mock_forecast,
    safety_stock_multiplier,
)
from conveyor_apps.season.demand import CLUSTER_NAMES, cluster_of

SCENARIO_KEYS = ["zara_style", "standard_retail", "luxury"]
CATEGORIES = [f"CAT00{n}" for n in range(1, 6)]


def store(
    store_id: str, tier: str, fashion: float, size: int = 10000
) -> StoreAttributes:
    """A store with just the attributes clustering reads."""
    return StoreAttributes(
        store_id=store_id, name=store_id, size_sqft=size, region="North",
        climate="cold", price_tier=tier, fashion_index=fashion,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("strategy", "expected"), [("none", 1.25), ("bi-weekly", 1.22), ("weekly", 1.20)]
)
def test_safety_stock_by_replenishment(strategy: str, expected: float) -> None:
    """Less frequent replenishment means a bigger safety-stock multiplier."""
    assert safety_stock_multiplier(strategy) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("key", SCENARIO_KEYS)
@pytest.mark.parametrize("category", CATEGORIES)
def test_forecast_curve_has_horizon_points(
    context_for: Callable[[str, str], SeasonContext], category: str, key: str
) -> None:
    """The curve has one point per horizon week, weekly from the season start."""
    context = context_for(category, key)
    forecast = forecast_demand(context)
    params = context.parameters
    assert len(forecast.weekly_curve) == params.forecast_horizon_weeks
    assert [p.week_start for p in forecast.weekly_curve] == [
        params.season_start_date + timedelta(weeks=h)
        for h in range(params.forecast_horizon_weeks)
    ]
    assert forecast.total_units == sum(p.units for p in forecast.weekly_curve)
    assert forecast.safety_stock_multiplier == safety_stock_multiplier(
        params.replenishment_strategy
    )
    assert forecast.category_id == category


@pytest.mark.parametrize("category", CATEGORIES)
def test_forecast_is_near_last_year(
    context_for: Callable[[str, str], SeasonContext], category: str
) -> None:
    """A 12-week spring forecast is within 0.8x–1.4x of the same weeks last year."""
    context = context_for(category, "zara_style")
    start = context.parameters.season_start_date - timedelta(weeks=52)
    last_year = sum(
        units
        for week, units in zip(
            context.week_starts, context.category_weekly_units, strict=True
        )
        if start <= week < start + timedelta(weeks=12)
    )
    ratio = forecast_demand(context).total_units / last_year
    assert 0.8 < ratio < 1.4, (
        f"expected 0.8..1.4 × last year's {last_year}, got {ratio}"
    )


def test_forecast_follows_seasonality(
    context_for: Callable[[str, str], SeasonContext],
) -> None:
    """Swimwear forecast for summer weeks beats the same-length winter stretch."""
    summer = forecast_demand(context_for("CAT002", "standard_retail")).weekly_curve
    winter = forecast_demand(context_for("CAT002", "luxury")).weekly_curve
    assert max(p.units for p in summer) > 2 * min(p.units for p in winter)


def test_clusters_partition_stores(
    context_for: Callable[[str, str], SeasonContext],
) -> None:
    """Every store is in exactly one of the three clusters; shares sum to one."""
    context = context_for("CAT003", "zara_style")
    clusters = forecast_demand(context).clusters
    assert tuple(clusters) == CLUSTER_NAMES
    members = [sid for cluster in clusters.values() for sid in cluster.store_ids]
    assert sorted(members) == sorted(s.store_id for s in context.stores)
    assert sum(c.share for c in clusters.values()) == pytest.approx(1.0)
    for name, cluster in clusters.items():
        assert cluster.store_ids, f"{name} should not be empty"
        assert sum(cluster.store_shares.values()) == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("tier", "fashion", "expected"),
    [("premium", 0.55, "Fashion_Forward"), ("mid", 0.7, "Fashion_Forward"),
     ("mid", 0.5, "Mainstream"), ("value", 0.5, "Mainstream"),
     ("mid", 0.3, "Value_Conscious"), ("value", 0.45, "Value_Conscious")],
)  # fmt: skip
def test_cluster_rule(tier: str, fashion: float, expected: str) -> None:
    """Fashion index shifted ±0.15 by tier decides the cluster."""
    assert cluster_of(store("S", tier, fashion)) == expected


def test_cluster_shares_fall_back_to_size() -> None:
    """Without sales, or with none at all, floor space weights the clusters."""
    stores = [store("A", "premium", 0.9, 3000), store("B", "value", 0.1, 1000)]
    for sales in (None, {"A": (0, 0), "B": (0,)}):
        clusters = cluster_stores(stores, sales)
        assert clusters["Fashion_Forward"].share == pytest.approx(0.75)
        assert clusters["Value_Conscious"].share == pytest.approx(0.25)
        assert clusters["Mainstream"] == StoreCluster(store_ids=[], share=0.0)


def test_cluster_shares_use_sales() -> None:
    """With sales, clusters and stores are weighted by units sold."""
    stores = [store("A", "premium", 0.9), store("B", "premium", 0.8)]
    clusters = cluster_stores(stores, {"A": (30, 0), "B": (10, 0)})
    assert clusters["Fashion_Forward"].share == 1.0
    assert clusters["Fashion_Forward"].store_shares == {"A": 0.75, "B": 0.25}


def test_cluster_stores_with_no_stores() -> None:
    """No stores yields three empty clusters with zero share."""
    clusters = cluster_stores([])
    assert all(c.share == 0.0 and not c.store_ids for c in clusters.values())


@pytest.mark.parametrize("key", SCENARIO_KEYS)
def test_mock_totals_exactly_8000(
    params_for: Callable[[str], SeasonParameters], key: str
) -> None:
    """The mock forecast sums to 8000 over exactly the horizon's weeks."""
    params = params_for(key)
    forecast = mock_forecast(params)
    assert forecast.total_units == 8000
    assert sum(p.units for p in forecast.weekly_curve) == 8000
    assert len(forecast.weekly_curve) == params.forecast_horizon_weeks
    assert "Fashion_Forward" in forecast.clusters
    assert forecast.method == "mock"
    assert forecast.category_id is None


def test_mock_with_context_matches_real_clusters(
    context_for: Callable[[str, str], SeasonContext],
) -> None:
    """Given a context, the mock uses the same clusters as the real forecast."""
    context = context_for("CAT004", "luxury")
    mock = mock_forecast(context.parameters, context, total_units=1234)
    assert mock.total_units == 1234
    assert mock.category_id == "CAT004"
    assert mock.clusters == forecast_demand(context).clusters


def test_forecast_rejects_inconsistent_total(zara: SeasonParameters) -> None:
    """A forecast whose curve does not add up to its total is invalid."""
    base = mock_forecast(zara)
    with pytest.raises(ValidationError, match="weekly_curve sums to 8000"):
        DemandForecast.model_validate({**base.model_dump(), "total_units": 8001})
    point = WeeklyPoint(week_start=zara.season_start_date, units=1)
    assert point.units == 1
