"""The package's public surface is pinned so it cannot drift silently."""

from __future__ import annotations

import conveyor_apps.season as season
from conveyor_apps.season import extraction


def test_all_is_sorted_and_exact() -> None:
    """`__all__` is sorted and lists exactly the documented names."""
    expected = {
        "DataNotFoundError", "DemandForecast", "Extractor", "ExtractorBackendError",
        "ForecastResult", "InventoryPlan", "LLMExtractor", "ParameterExtractionError",
        "PlanCancelledError", "PlanFailedError", "PlanRequest", "ReplenishmentStrategy",
        "RuleBasedExtractor", "Scenario", "SeasonContext", "SeasonError",
        "SeasonOrchestrator", "SeasonParameters", "SeasonPlan", "SeasonSettings",
        "StoreAttributes", "StoreCluster", "WeeklyPoint", "assemble_context",
        "clear_cache", "cluster_stores", "create_season_app", "derive_end_date",
        "extract_parameters", "forecast_demand", "install", "load_scenarios",
        "mock_forecast", "plan_inventory", "safety_stock_multiplier", "season_plan",
    }  # fmt: skip
    assert season.__all__ == sorted(season.__all__), "__all__ must be sorted"
    assert set(season.__all__) == expected, (
        f"expected {sorted(expected)}, got {season.__all__}"
    )


def test_every_exported_name_resolves() -> None:
    """Each name in `__all__` is an attribute of its package."""
    for package in (season, extraction):
        missing = [name for name in package.__all__ if not hasattr(package, name)]
        assert missing == [], f"{package.__name__} lacks {missing}"
