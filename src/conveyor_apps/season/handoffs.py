"""The typed context each hand-off carries, from the planner's request to the plan.

```
PlanRequest ─▶ ExtractionRequest ─▶ parameters ─▶ SeasonParameters
            ─▶ ContextRequest ─▶ context ─▶ SeasonContext
            ─▶ demand ─▶ DemandForecast
            ─▶ InventoryRequest ─▶ inventory ─▶ InventoryPlan ─▶ SeasonPlan
```
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .demand import DemandForecast
from .inventory import InventoryPlan
from .parameters import SeasonParameters

StrategyText = Annotated[
    str,
    Field(
        min_length=1,
        max_length=4000,
        description="The season strategy in plain words.",
        examples=[
            "12-week season starting March 1 2025, no replenishment, nothing held "
            "back at the DC"
        ],
    ),
]
CategoryId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="The product category, e.g. CAT001.",
        examples=["CAT001"],
    ),
]


class _Handoff(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanRequest(_Handoff):
    """Input of the `season_plan` workflow: what the planner asked for."""

    strategy_description: StrategyText
    category_id: CategoryId


class ExtractionRequest(_Handoff):
    """Hand-off to the `parameters` agent."""

    strategy_description: StrategyText


class ContextRequest(_Handoff):
    """Hand-off to the `context` agent: whose history, for which season."""

    category_id: CategoryId
    parameters: SeasonParameters


class InventoryRequest(_Handoff):
    """Hand-off from the Demand agent to the Inventory agent."""

    forecast: DemandForecast
    parameters: SeasonParameters


class ForecastResult(_Handoff):
    """What the forecast chain (parameters → context → demand) returns."""

    category_id: str
    parameters: SeasonParameters
    forecast: DemandForecast


class SeasonPlan(_Handoff):
    """The output of `season_plan`: the parameters, the forecast and the plan."""

    run_id: str
    session_id: str | None
    category_id: str
    strategy_description: str
    parameters: SeasonParameters
    forecast: DemandForecast
    inventory: InventoryPlan
