"""Routes for runs: start, read, list, cancel, signal and query — each scoped to the
caller's tenant, so another tenant's run answers 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Query, Response

from ..errors import ValidationFailedError
from ..runs import RunStatus
from ..store.base import RunQuery
from .deps import State, Tenant
from .models import (
    RATE_LIMITED,
    ErrorBody,
    QueryResponse,
    Run,
    RunLinks,
    RunPage,
    SignalRequest,
    SignalResponse,
    StartRunRequest,
    StartRunResponse,
)

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 404, 409, 413, 422, 500, 504)
}

router = APIRouter(prefix="/v1/runs", tags=["runs"], responses=ERRORS)

RunId = Annotated[str, Path(min_length=1, max_length=200)]
Name = Annotated[str, Path(min_length=1, max_length=200)]


def links(run_id: str) -> RunLinks:
    """The paths of a run's resources."""
    base = f"/v1/runs/{run_id}"
    return RunLinks(
        self=base, events=f"{base}/events", ws=f"{base}/ws", cancel=f"{base}/cancel"
    )


@router.post(
    "",
    status_code=202,
    response_model=StartRunResponse,
    responses={
        200: {"model": StartRunResponse, "description": "Already submitted"},
        429: RATE_LIMITED,
    },
    summary="Start a run",
)
async def start_run(
    body: StartRunRequest, state: State, tenant: Tenant, response: Response
) -> StartRunResponse:
    """Store and queue a run; 202 at once. With an idempotency key already used by
    this tenant, 200 and the existing run. Over the tenant's submission rate the
    request is held for its turn, or refused (429) if that is too far away."""
    await state.admit_submission(tenant)
    try:
        handle = await state.conveyor.start(
            body.workflow,
            body.input,
            tenant=tenant,
            key=body.key,
            idempotency_key=body.idempotency_key,
            session_id=body.session_id,
        )
    except ValidationFailedError as exc:
        raise ValidationFailedError(f"body.{exc.field}", exc.problem) from exc
    run = await state.conveyor.get_run(handle.run_id, tenant)
    if not handle.created:
        response.status_code = 200
    return StartRunResponse(
        run_id=run.id, status=run.status, created=handle.created, links=links(run.id)
    )


@router.get("", response_model=RunPage, summary="List runs")
async def list_runs(
    state: State,
    tenant: Tenant,
    status: RunStatus | None = None,
    workflow: Annotated[str | None, Query(max_length=200)] = None,
    key: Annotated[str | None, Query(max_length=200)] = None,
    session_id: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[
        str | None,
        Query(pattern=r"^[0-9]{1,18}$", description="`next_cursor` of the last page"),
    ] = None,
) -> RunPage:
    """The tenant's runs, newest first, filtered and paginated."""
    query = RunQuery(
        tenant=tenant,
        status=status,
        workflow=workflow,
        key=key,
        session_id=session_id,
        limit=limit + 1,
        before_seq=int(cursor) if cursor is not None else None,
    )
    records = await state.conveyor.list_runs(query)
    page = records[:limit]
    more = len(records) > limit
    return RunPage(
        items=[Run.of(record) for record in page],
        next_cursor=str(page[-1].submit_seq) if more and page else None,
    )


@router.get("/{run_id}", response_model=Run, summary="Get a run")
async def get_run(run_id: RunId, state: State, tenant: Tenant) -> Run:
    """One run of the tenant."""
    return Run.of(await state.conveyor.get_run(run_id, tenant))


@router.post(
    "/{run_id}/cancel", status_code=202, response_model=Run, summary="Cancel a run"
)
async def cancel_run(run_id: RunId, state: State, tenant: Tenant) -> Run:
    """Ask the run to stop; 409 when it has already ended."""
    return Run.of(await state.conveyor.cancel(run_id, tenant))


@router.post(
    "/{run_id}/signals/{name}",
    status_code=202,
    response_model=SignalResponse,
    summary="Signal a run",
)
async def signal_run(
    run_id: RunId,
    name: Name,
    state: State,
    tenant: Tenant,
    body: Annotated[SignalRequest | None, Body()] = None,
) -> SignalResponse:
    """Store a signal; the run consumes it when it next waits for `name`."""
    payload = body.payload if body is not None else None
    signal_id = await state.conveyor.signal(run_id, name, payload, tenant)
    return SignalResponse(signal_id=signal_id)


@router.get(
    "/{run_id}/query/{name}", response_model=QueryResponse, summary="Query a run"
)
async def query_run(
    run_id: RunId, name: Name, state: State, tenant: Tenant
) -> QueryResponse:
    """The value the run last published under `name` (404 if none)."""
    value = await state.conveyor.query(run_id, name, tenant)
    return QueryResponse(name=name, value=value)
