"""`season_plan`: the durable workflow from a planner's words to an inventory plan.

Each hand-off is a checkpointed step, so a crash resumes after the last finished
agent; progress goes to the run's session stream as it moves along.
"""

from __future__ import annotations

from conveyor import RunContext, workflow

from .agents import CONTEXT, DEMAND, INVENTORY, PARAMETERS
from .context import SeasonContext
from .demand import DemandForecast
from .handoffs import (
    ContextRequest,
    ExtractionRequest,
    InventoryRequest,
    PlanRequest,
    SeasonPlan,
)
from .inventory import InventoryPlan
from .parameters import SeasonParameters

WORKFLOW_NAME = "season_plan"


@workflow(name=WORKFLOW_NAME)
async def season_plan(run: RunContext, request: PlanRequest) -> SeasonPlan:
    """Plan a season: parameters → context → demand → inventory."""
    run.progress(0.0, "extracting parameters")
    parameters: SeasonParameters = await run.step(
        PARAMETERS,
        ExtractionRequest(strategy_description=request.strategy_description),
    )
    run.progress(0.25, f"assembling the context of {request.category_id}")
    context: SeasonContext = await run.step(
        CONTEXT, ContextRequest(category_id=request.category_id, parameters=parameters)
    )
    run.progress(0.5, "forecasting demand")
    forecast: DemandForecast = await run.step(DEMAND, context)
    run.progress(0.75, "planning inventory")
    plan: InventoryPlan = await run.step(
        INVENTORY, InventoryRequest(forecast=forecast, parameters=parameters)
    )
    run.progress(1.0, "plan ready")
    return SeasonPlan(
        run_id=run.run_id,
        session_id=run.session_id,
        category_id=request.category_id,
        strategy_description=request.strategy_description,
        parameters=parameters,
        forecast=forecast,
        inventory=plan,
    )
