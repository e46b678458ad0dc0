"""Season planning: the pure domain layer of reference system 1.

Turns a planner's plain words into `SeasonParameters`, assembles a `SeasonContext`
from the sales fixtures, forecasts demand and plans inventory. No engine, HTTP or
WebSocket code lives here; agents and the API wire these functions in.
"""

from __future__ import annotations

from .context import SeasonContext as SeasonContext
from .context import StoreAttributes as StoreAttributes
from .context import assemble_context as assemble_context
from .context import clear_cache as clear_cache
from .demand import DemandForecast as DemandForecast
from .demand import StoreCluster as StoreCluster
from .demand import WeeklyPoint as WeeklyPoint
from .demand import cluster_stores as cluster_stores
from .demand import forecast_demand as forecast_demand
from .demand import mock_forecast as mock_forecast
from .demand import safety_stock_multiplier as safety_stock_multiplier
from .errors import DataNotFoundError as DataNotFoundError
from .errors import ExtractorBackendError as ExtractorBackendError
from .errors import ParameterExtractionError as ParameterExtractionError
from .errors import SeasonError as SeasonError
from .extraction import Extractor as Extractor
from .extraction import LLMExtractor as LLMExtractor
from .extraction import RuleBasedExtractor as RuleBasedExtractor
from .extraction import extract_parameters as extract_parameters
from .inventory import InventoryPlan as InventoryPlan
from .inventory import plan_inventory as plan_inventory
from .parameters import ReplenishmentStrategy as ReplenishmentStrategy
from .parameters import Scenario as Scenario
from .parameters import SeasonParameters as SeasonParameters
from .parameters import derive_end_date as derive_end_date
from .parameters import load_scenarios as load_scenarios

__all__ = [
    "DataNotFoundError",
    "DemandForecast",
    "Extractor",
    "ExtractorBackendError",
    "InventoryPlan",
    "LLMExtractor",
    "ParameterExtractionError",
    "ReplenishmentStrategy",
    "Scenario",
    "SeasonContext",
    "SeasonError",
    "SeasonParameters",
    "StoreAttributes",
    "StoreCluster",
    "WeeklyPoint",
    "assemble_context",
    "clear_cache",
    "cluster_stores",
    "derive_end_date",
    "extract_parameters",
    "forecast_demand",
    "load_scenarios",
    "mock_forecast",
    "plan_inventory",
    "safety_stock_multiplier",
]
