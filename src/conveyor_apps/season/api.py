"""HTTP routes of the season service under `/api/orchestrator`: run the workflow
(waiting for the plan, or 202 in the background), follow a run, extract parameters,
and list categories and reference scenarios for the planner's page."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import HTTPConnection

from conveyor import LogEntry, RunStatus
from conveyor.api.deps import Tenant
from conveyor.api.models import ErrorBody
from conveyor.errors import AgentTimeoutError, ConfigurationError, RunNotFoundError

from .catalog import Category, list_categories
from .failures import error_from_info, error_payload
from .handoffs import CategoryId, PlanRequest, SeasonPlan, StrategyText
from .orchestrator import SeasonOrchestrator
from .parameters import Scenario, SeasonParameters, load_scenarios
from .workflow import WORKFLOW_NAME

PREFIX = "/api/orchestrator"
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 404, 409, 422, 500, 502, 504)
}
SessionId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=200,
        pattern=r"^[A-Za-z0-9_.:-]+$",
        description="The planner's stream: /ws/orchestrator/{session_id}.",
    ),
]

router = APIRouter(prefix=PREFIX, tags=["season"], responses=ERRORS)


def orchestrator_of(connection: HTTPConnection) -> SeasonOrchestrator:
    """The season orchestrator installed on the app serving `connection`."""
    found = getattr(connection.app.state, "season", None)
    if not isinstance(found, SeasonOrchestrator):
        raise ConfigurationError("season planning is not installed on this app")
    return found


Orchestrator = Annotated[SeasonOrchestrator, Depends(orchestrator_of)]


# bodies --------------------------------------------------------------------------
class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RunWorkflowRequest(_Body):
    """Plan a season for one category from the strategy in plain words."""

    strategy_description: StrategyText
    category_id: CategoryId
    session_id: SessionId | None = Field(
        None, description="Stream progress here; a new id is made when omitted."
    )
    background: bool = Field(
        False, description="Answer 202 with the run id at once instead of the plan."
    )


class LogEntryBody(_Body):
    """One agent call of the execution log."""

    agent: str
    status: str
    started_at: float
    duration_s: float | None
    error: str | None
    attempt: int | None


class RunLinks(_Body):
    """Where to follow the run."""

    self: str
    stream: str


class RunWorkflowResponse(_Body):
    """A season plan run: the plan once completed, else where it stands."""

    run_id: str
    session_id: str | None
    status: RunStatus
    plan: SeasonPlan | None = None
    error: ErrorBody | None = None
    execution_log: list[LogEntryBody] = []
    links: RunLinks


class ParametersRequest(_Body):
    """A strategy to read."""

    strategy_description: StrategyText


class ParametersResponse(_Body):
    """The parameters a strategy states."""

    parameters: SeasonParameters
    extractor: str = Field(description="Which extractor read it: rules or llm.")


# routes --------------------------------------------------------------------------
@router.post(
    "/run-workflow",
    response_model=RunWorkflowResponse,
    responses={202: {"model": RunWorkflowResponse, "description": "Running"}},
    summary="Plan a season",
)
async def run_workflow(
    body: RunWorkflowRequest,
    season: Orchestrator,
    tenant: Tenant,
    response: Response,
) -> RunWorkflowResponse:
    """Run parameters → context → demand → inventory and answer with the plan
    (200). With `background: true`, or when the plan takes longer than the
    service waits, answer 202 with the run id; the session stream tells the rest."""
    session_id = body.session_id or uuid.uuid4().hex
    request = PlanRequest(
        strategy_description=body.strategy_description, category_id=body.category_id
    )
    handle = await season.start_plan(request, session_id=session_id, tenant=tenant)
    if not body.background:
        try:
            plan = await season.plan_result(
                handle.run_id, tenant=tenant, timeout_s=season.settings.sync_wait_s
            )
        except AgentTimeoutError:
            raise  # the run failed because an agent was slow: 504
        except TimeoutError:
            pass  # still running after sync_wait_s: say where to follow it
        else:
            return _answer(season, handle.run_id, session_id, RunStatus.COMPLETED, plan)
    response.status_code = 202
    return _answer(season, handle.run_id, session_id, RunStatus.PENDING)


@router.get("/runs/{run_id}", summary="Follow a season plan run")
async def get_run(
    run_id: Annotated[str, Path(min_length=1, max_length=200)],
    season: Orchestrator,
    tenant: Tenant,
) -> RunWorkflowResponse:
    """The run's status, and its plan once completed or its error once failed."""
    run = await season.conveyor.get_run(run_id, tenant)
    if run.workflow != WORKFLOW_NAME:
        raise RunNotFoundError(run_id)
    plan = SeasonPlan.model_validate(run.output) if run.output is not None else None
    error = None
    if run.status in (RunStatus.FAILED, RunStatus.DEAD, RunStatus.CANCELLED):
        error = ErrorBody(**error_payload(error_from_info(run_id, run.error), None))
    return _answer(season, run_id, run.session_id, run.status, plan, error)


@router.get(
    "/parameters",
    response_model=ParametersResponse,
    summary="Extract parameters from a strategy",
)
async def get_parameters(
    text: Annotated[str, Query(min_length=1, max_length=4000)],
    season: Orchestrator,
    _: Tenant,
) -> ParametersResponse:
    """The season parameters `text` states; 422 names what is missing or wrong."""
    parameters = await season.extract_parameters(text)
    return ParametersResponse(parameters=parameters, extractor=season.extractor_kind)


@router.post(
    "/parameters",
    response_model=ParametersResponse,
    summary="Extract parameters from a strategy",
)
async def post_parameters(
    body: ParametersRequest, season: Orchestrator, _: Tenant
) -> ParametersResponse:
    """As GET, with the strategy in the body."""
    parameters = await season.extract_parameters(body.strategy_description)
    return ParametersResponse(parameters=parameters, extractor=season.extractor_kind)


@router.get("/categories", summary="Categories with sales history")
async def categories(_: Tenant) -> list[Category]:
    """Product categories the planner can choose."""
    return list_categories()


@router.get("/scenarios", summary="Reference scenarios")
async def scenarios(_: Tenant) -> list[Scenario]:
    """The three reference strategies, with a description to start from."""
    return list(load_scenarios().values())


def _answer(
    season: SeasonOrchestrator,
    run_id: str,
    session_id: str | None,
    status: RunStatus,
    plan: SeasonPlan | None = None,
    error: ErrorBody | None = None,
) -> RunWorkflowResponse:
    return RunWorkflowResponse(
        run_id=run_id,
        session_id=session_id,
        status=status,
        plan=plan,
        error=error,
        execution_log=[_entry(entry) for entry in season.execution_log(run_id=run_id)],
        links=RunLinks(
            self=f"{PREFIX}/runs/{run_id}",
            stream=f"/ws/orchestrator/{session_id}" if session_id else "",
        ),
    )


def _entry(entry: LogEntry) -> LogEntryBody:
    return LogEntryBody(
        agent=entry.agent,
        status=entry.status,
        started_at=entry.started_at,
        duration_s=entry.duration_s,
        error=entry.error,
        attempt=entry.attempt,
    )
