"""Probes: `/healthz` says the process answers, `/readyz` that the engine is open
and its store answers (503 otherwise, so a load balancer stops sending traffic)."""

from __future__ import annotations

import logging

from fastapi import APIRouter

from ..store.base import RunQuery
from .deps import State
from .errors import ServiceUnavailableError
from .models import ErrorBody, Health

logger = logging.getLogger("conveyor.api")

router = APIRouter(tags=["operations"])

# a tenant name no API key can map to: the probe reads nothing real
_PROBE_TENANT = "\x00readyz"


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """The process is alive and serving."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    responses={503: {"model": ErrorBody}},
    summary="Readiness",
)
async def readyz(state: State) -> Health:
    """The engine is open and its store answers a query."""
    if not state.conveyor.is_open:
        raise ServiceUnavailableError("the engine is not open")
    try:
        await state.conveyor.list_runs(RunQuery(tenant=_PROBE_TENANT, limit=1))
    except Exception as exc:
        logger.warning("readiness probe: the store did not answer: %s", exc)
        raise ServiceUnavailableError("the store does not answer") from exc
    return Health(status="ready")
