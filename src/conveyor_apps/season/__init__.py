"""Season planning, reference system 1: a planner's plain words become a season plan.

The domain modules (`parameters`, `extraction`, `context`, `demand`, `inventory`) are
pure: they turn text into `SeasonParameters`, assemble a `SeasonContext` from the
sales fixtures, forecast demand and plan inventory. The orchestration wires them
into the engine: `agents` and the `season_plan` workflow, `SeasonOrchestrator`, and
`install` (in `mount`), which serves the HTTP API, the WebSocket stream and the
web page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SeasonSettings as SeasonSettings
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
from .failures import PlanCancelledError as PlanCancelledError
from .failures import PlanFailedError as PlanFailedError
from .handoffs import ForecastResult as ForecastResult
from .handoffs import PlanRequest as PlanRequest
from .handoffs import SeasonPlan as SeasonPlan
from .inventory import InventoryPlan as InventoryPlan
from .inventory import plan_inventory as plan_inventory
from .orchestrator import SeasonOrchestrator as SeasonOrchestrator
from .parameters import ReplenishmentStrategy as ReplenishmentStrategy
from .parameters import Scenario as Scenario
from .parameters import SeasonParameters as SeasonParameters
from .parameters import derive_end_date as derive_end_date
from .parameters import load_scenarios as load_scenarios
from .workflow import season_plan as season_plan

if TYPE_CHECKING:
    from .mount import create_season_app as create_season_app
    from .mount import install as install

_MOUNTING = frozenset({"create_season_app", "install"})


def __getattr__(name: str) -> Any:
    """`install` and `create_season_app` load FastAPI: only when asked for, so the
    CLI and workers that never serve HTTP stay light."""
    if name in _MOUNTING:
        from . import mount

        return getattr(mount, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DataNotFoundError",
    "DemandForecast",
    "Extractor",
    "ExtractorBackendError",
    "ForecastResult",
    "InventoryPlan",
    "LLMExtractor",
    "ParameterExtractionError",
    "PlanCancelledError",
    "PlanFailedError",
    "PlanRequest",
    "ReplenishmentStrategy",
    "RuleBasedExtractor",
    "Scenario",
    "SeasonContext",
    "SeasonError",
    "SeasonOrchestrator",
    "SeasonParameters",
    "SeasonPlan",
    "SeasonSettings",
    "StoreAttributes",
    "StoreCluster",
    "WeeklyPoint",
    "assemble_context",
    "clear_cache",
    "cluster_stores",
    "create_season_app",
    "derive_end_date",
    "extract_parameters",
    "forecast_demand",
    "install",
    "load_scenarios",
    "mock_forecast",
    "plan_inventory",
    "safety_stock_multiplier",
    "season_plan",
]
