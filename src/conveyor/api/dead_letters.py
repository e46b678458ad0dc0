"""Routes for the dead-letter list: inspect parked runs and replay them (replay is an
admin operation when an admin key is configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from .deps import Admin, State, Tenant, current_tenant
from .models import DeadLetterOut, DeadLetterPage, ErrorBody, ReplayResponse
from .runs import ERRORS

router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"], responses=ERRORS)

LetterId = Annotated[str, Path(min_length=1, max_length=200)]


@router.get("", response_model=DeadLetterPage, summary="List dead letters")
async def list_dead_letters(
    state: State, tenant: Tenant, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> DeadLetterPage:
    """The tenant's dead letters not yet replayed, newest first."""
    letters = await state.conveyor.dead_letters(tenant, limit)
    return DeadLetterPage(items=[DeadLetterOut.of(letter) for letter in letters])


@router.get("/{dead_letter_id}", response_model=DeadLetterOut, summary="Get one")
async def get_dead_letter(
    dead_letter_id: LetterId, state: State, tenant: Tenant
) -> DeadLetterOut:
    """One dead letter of the tenant."""
    letter = await state.conveyor.dead_letter(dead_letter_id, tenant)
    return DeadLetterOut.of(letter)


@router.post(
    "/{dead_letter_id}/replay",
    status_code=202,
    response_model=ReplayResponse,
    # the tenant first: a caller without a valid key hears 401, not 403
    dependencies=[Depends(current_tenant), Admin],
    responses={403: {"model": ErrorBody}},
    summary="Replay a dead letter",
)
async def replay_dead_letter(
    dead_letter_id: LetterId, state: State, tenant: Tenant
) -> ReplayResponse:
    """Resume the run from its failed step (completed steps keep their results);
    409 when it was already replayed."""
    handle = await state.conveyor.replay(dead_letter_id, tenant)
    run = await state.conveyor.get_run(handle.run_id, tenant)
    return ReplayResponse(run_id=run.id, status=run.status)
