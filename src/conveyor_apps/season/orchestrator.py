"""`SeasonOrchestrator`: the season service on one engine — its agents, extractor,
durable `season_plan` workflow and execution log — as a Python API.

The API routes, the WebSocket stream, the CLI and the tests all go through it.
"""

from __future__ import annotations

from pathlib import Path

from conveyor import Conveyor, HandoffManager, LogEntry, RunHandle
from conveyor.errors import RunCancelledError, RunFailedError

from .agents import CONTEXT, DEMAND, PARAMETERS, extract_with, register_agents
from .config import SeasonSettings, extractor_kind, make_extractor
from .context import SeasonContext
from .demand import DemandForecast
from .extraction import Extractor
from .failures import PlanCancelledError, error_from_info
from .handoffs import (
    ContextRequest,
    ExtractionRequest,
    ForecastResult,
    PlanRequest,
    SeasonPlan,
)
from .parameters import SeasonParameters
from .workflow import season_plan


class SeasonOrchestrator:
    """Season planning on `conveyor`: registers the agents and the workflow.

    Args:
        conveyor: the engine (open it before planning; registration may come first).
        settings: timeouts and the extractor choice (default: `SEASON_*` variables).
        extractor: overrides the extractor the settings imply.
        data_dir: the sales fixtures folder (default: the packaged data).
    """

    def __init__(
        self,
        conveyor: Conveyor,
        *,
        settings: SeasonSettings | None = None,
        extractor: Extractor | None = None,
        data_dir: Path | None = None,
    ) -> None:
        self.conveyor = conveyor
        self.settings = settings or SeasonSettings()
        self.extractor = extractor or make_extractor(self.settings)
        self.handoff = HandoffManager(conveyor)
        register_agents(self.handoff, self.extractor, self.settings, data_dir=data_dir)
        conveyor.register(season_plan)

    @property
    def extractor_kind(self) -> str:
        """`rules` or `llm`: which extractor reads strategies."""
        return extractor_kind(self.extractor)

    async def aclose(self) -> None:
        """Release the extractor's connections (an LLM client)."""
        close = getattr(self.extractor, "aclose", None)
        if close is not None:
            await close()

    # parameters ----------------------------------------------------------------------
    async def extract_parameters(self, text: str) -> SeasonParameters:
        """The parameters `text` states (a preview; no agent call is logged).

        Raises:
            ParameterExtractionError: naming what the text does not say.
            ValidationFailedError: naming a field whose value is invalid.
            ExtractorBackendError: the LLM endpoint failed.
        """
        return await extract_with(self.extractor, text)

    # direct hand-offs ----------------------------------------------------------------
    async def forecast(
        self,
        strategy_description: str,
        category_id: str,
        *,
        session_id: str | None = None,
        tenant: str = "default",
        demand_timeout_s: float | None = None,
    ) -> ForecastResult:
        """Parameters → context → Demand agent, as direct logged hand-offs (not
        durable): a quick forecast without planning inventory.

        Raises:
            DataNotFoundError: the category has no history.
            AgentTimeoutError: an agent took longer than its timeout.
        """
        parameters: SeasonParameters = await self.handoff.call_agent(
            PARAMETERS,
            ExtractionRequest(strategy_description=strategy_description),
            session_id=session_id,
            tenant=tenant,
        )
        context: SeasonContext = await self.handoff.call_agent(
            CONTEXT,
            ContextRequest(category_id=category_id, parameters=parameters),
            session_id=session_id,
            tenant=tenant,
        )
        forecast: DemandForecast = await self.handoff.call_agent(
            DEMAND,
            context,
            timeout=demand_timeout_s,
            session_id=session_id,
            tenant=tenant,
        )
        return ForecastResult(
            category_id=category_id, parameters=parameters, forecast=forecast
        )

    # the durable workflow ------------------------------------------------------------
    async def start_plan(
        self,
        request: PlanRequest,
        *,
        session_id: str | None = None,
        tenant: str = "default",
        idempotency_key: str | None = None,
    ) -> RunHandle:
        """Start a `season_plan` run; it streams to `session_id`'s listeners."""
        return await self.conveyor.start(
            season_plan,
            request,
            tenant=tenant,
            session_id=session_id,
            idempotency_key=idempotency_key,
        )

    async def plan_result(
        self, run_id: str, *, tenant: str | None = None, timeout_s: float | None = None
    ) -> SeasonPlan:
        """Wait for a `season_plan` run and return its plan.

        Raises:
            TimeoutError: the run did not end within `timeout_s`.
            DataNotFoundError, ParameterExtractionError, ValidationFailedError,
            AgentTimeoutError, ExtractorBackendError: why the run failed.
            PlanFailedError: it failed for another reason.
            PlanCancelledError: it was cancelled.
        """
        try:
            output = await self.conveyor.result(
                run_id, tenant=tenant, timeout_s=timeout_s
            )
        except RunCancelledError:
            raise PlanCancelledError(run_id) from None
        except RunFailedError:
            run = await self.conveyor.get_run(run_id, tenant)
            raise error_from_info(run_id, run.error) from None
        return SeasonPlan.model_validate(output)

    async def plan(
        self,
        request: PlanRequest,
        *,
        session_id: str | None = None,
        tenant: str = "default",
    ) -> SeasonPlan:
        """Run `season_plan` to the end and return the plan (errors as
        `plan_result`)."""
        handle = await self.start_plan(request, session_id=session_id, tenant=tenant)
        return await self.plan_result(handle.run_id, tenant=tenant)

    def execution_log(
        self, *, session_id: str | None = None, run_id: str | None = None
    ) -> list[LogEntry]:
        """Agent calls in the order they started, of a session or a run."""
        return self.handoff.execution_log(session_id=session_id, run_id=run_id)
