"""The season agents — `parameters`, `context`, `demand` and `inventory` — and their
registration on a `HandoffManager`.

Each agent takes one typed hand-off (see `handoffs`) and accepts its JSON form too,
reports progress, and lets its domain errors through unchanged so the API can map
them. Only the LLM-backed extraction is retried (and only on backend errors): the
other agents are deterministic, so another attempt would fail the same way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from pydantic import ValidationError

from conveyor import HandoffManager, StepContext
from conveyor.errors import ValidationFailedError
from conveyor.policies import NO_RETRY, RetryPolicy

from .config import SeasonSettings
from .context import SeasonContext, assemble_context
from .demand import DemandForecast, forecast_demand
from .errors import ExtractorBackendError
from .extraction import Extractor
from .handoffs import ContextRequest, ExtractionRequest, InventoryRequest
from .inventory import InventoryPlan, plan_inventory
from .parameters import SeasonParameters

PARAMETERS = "parameters"
CONTEXT = "context"
DEMAND = "demand"
INVENTORY = "inventory"
AGENT_NAMES = (PARAMETERS, CONTEXT, DEMAND, INVENTORY)
"""The agents of a season plan, in hand-off order."""

EXTRACTION_RETRY = RetryPolicy(
    max_attempts=3,
    initial_backoff_s=0.2,
    max_backoff_s=2.0,
    retry_on=(ExtractorBackendError,),
)


def validation_failed(error: ValidationError) -> ValidationFailedError:
    """The engine's field-naming error for pydantic's first complaint."""
    problems = error.errors()
    if not problems:
        return ValidationFailedError("parameters", str(error))
    field = ".".join(str(part) for part in problems[0]["loc"]) or "parameters"
    return ValidationFailedError(field, problems[0]["msg"])


async def extract_with(extractor: Extractor, text: str) -> SeasonParameters:
    """Run `extractor`, reporting an invalid value as `ValidationFailedError`."""
    try:
        return await extractor.extract(text)
    except ValidationError as exc:
        raise validation_failed(exc) from exc


ParametersAgent = Callable[
    [StepContext, ExtractionRequest], Awaitable[SeasonParameters]
]
ContextAgent = Callable[[StepContext, ContextRequest], Awaitable[SeasonContext]]


def parameters_agent(extractor: Extractor) -> ParametersAgent:
    """The `parameters` agent: plain words → `SeasonParameters` via `extractor`."""

    async def parameters(
        ctx: StepContext, request: ExtractionRequest
    ) -> SeasonParameters:
        text = ExtractionRequest.model_validate(request).strategy_description
        ctx.progress(0.0, "reading the strategy")
        extracted = await extract_with(extractor, text)
        ctx.progress(
            1.0,
            f"{extracted.forecast_horizon_weeks} weeks from "
            f"{extracted.season_start_date}, replenishment "
            f"{extracted.replenishment_strategy}, DC holdback "
            f"{extracted.dc_holdback_percentage:.0%}",
        )
        return extracted

    return parameters


def context_agent(data_dir: Path | None = None) -> ContextAgent:
    """The `context` agent: a category's history and stores for the season."""

    async def context(ctx: StepContext, request: ContextRequest) -> SeasonContext:
        request = ContextRequest.model_validate(request)
        assembled = assemble_context(
            request.category_id, request.parameters, data_dir=data_dir
        )
        ctx.progress(
            1.0,
            f"{len(assembled.week_starts)} weeks of history, "
            f"{len(assembled.stores)} stores",
        )
        return assembled

    return context


async def demand(ctx: StepContext, context: SeasonContext) -> DemandForecast:
    """The Demand agent: a statistical forecast from the category's history."""
    context = SeasonContext.model_validate(context)
    ctx.progress(0.1, f"fitting the seasonal model to {len(context.week_starts)} weeks")
    forecast = forecast_demand(context)
    ctx.progress(1.0, f"forecast {forecast.total_units} units")
    return forecast


async def inventory(ctx: StepContext, request: InventoryRequest) -> InventoryPlan:
    """The Inventory agent: manufacturing quantity, DC holdback and allocations."""
    request = InventoryRequest.model_validate(request)
    plan = plan_inventory(request.forecast, request.parameters)
    ctx.progress(1.0, f"manufacture {plan.manufacturing_qty} units")
    return plan


def register_agents(
    manager: HandoffManager,
    extractor: Extractor,
    settings: SeasonSettings,
    *,
    data_dir: Path | None = None,
) -> None:
    """Register the four season agents on `manager`'s engine.

    Raises:
        ConfigurationError: another agent already uses one of the names.
    """
    manager.register_agent(
        PARAMETERS, parameters_agent(extractor), retry=EXTRACTION_RETRY
    )
    manager.register_agent(CONTEXT, context_agent(data_dir), retry=NO_RETRY)
    manager.register_agent(
        DEMAND, demand, timeout_s=settings.demand_timeout_s, retry=NO_RETRY
    )
    manager.register_agent(
        INVENTORY, inventory, timeout_s=settings.inventory_timeout_s, retry=NO_RETRY
    )
