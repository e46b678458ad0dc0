"""HTTP routes of the exception platform: report (202), update, read and list
exceptions, their dead letters (list, show, replay) and tenants' policies.

Callers authenticate with their tenant's key in `X-API-Key`; every route answers
for the caller's tenant only, and another tenant's ids are simply not found (404).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response, Security
from fastapi.security import APIKeyHeader
from pydantic import BaseModel
from starlette.requests import HTTPConnection

from conveyor import RunRecord
from conveyor.api.deps import State
from conveyor.api.errors import AuthenticationError
from conveyor.api.models import RATE_LIMITED, ErrorBody, public_error
from conveyor.errors import ConfigurationError
from conveyor.store.base import DeadLetter

from .errors import TenantNotFoundError
from .handoffs import ExceptionUpdate, Stage
from .models import Category, ExceptionReport, Severity, parse_report
from .platform import ExceptionNotFoundError, ExceptionPlatform, Submission
from .repository import ExceptionFilter
from .schemas import (
    Accepted,
    DeadLetterList,
    DeadLetterView,
    EventOut,
    ExceptionOut,
    ExceptionPage,
    ExceptionSummary,
    HistoryEntry,
    Links,
    PendingEventOut,
    PolicyOut,
    ReplayAccepted,
    StageRecordOut,
    ToolExecutionOut,
)
from .status import ExceptionStatus
from .tenants import TenantPolicy

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 404, 409, 413, 422)
}
ExceptionId = Annotated[str, Path(min_length=1, max_length=128)]
LetterId = Annotated[str, Path(min_length=1, max_length=200)]

router = APIRouter(tags=["exceptions"], responses=ERRORS)
_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="Your tenant's API key."
)


# The dependencies are coroutines though they never wait: FastAPI runs a plain
# function in its thread pool, two thread hand-offs per request for nothing.
async def platform_of(connection: HTTPConnection) -> ExceptionPlatform:
    """The platform installed on the app serving `connection`."""
    found = getattr(connection.app.state, "exceptions", None)
    if not isinstance(found, ExceptionPlatform):
        raise ConfigurationError("the exception platform is not installed on this app")
    return found


Platform = Annotated[ExceptionPlatform, Depends(platform_of)]


async def caller(
    platform: Platform, key: Annotated[str | None, Security(_api_key)]
) -> str:
    """The tenant of the request's API key (401 without a valid one)."""
    tenant = platform.authenticate(key)
    if tenant is None:
        raise AuthenticationError(
            "the API key is not valid" if key else "a tenant's API key is required"
        )
    return tenant.tenant_id


Caller = Annotated[str, Depends(caller)]


async def submitting_caller(tenant: Caller, state: State) -> str:
    """The caller, in its turn under its tenant's submission rate (the engine's
    `CONVEYOR_TENANT_SUBMIT_RATE`): held until then, or 429 with `Retry-After`
    if that is too far away, before the report costs a write."""
    await state.admit_submission(tenant)
    return tenant


SubmittingCaller = Annotated[str, Depends(submitting_caller)]


# routes --------------------------------------------------------------------------
@router.post(
    "/exceptions",
    status_code=202,
    response_model=Accepted,
    summary="Report an exception",
    responses={429: RATE_LIMITED},
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": ExceptionReport.model_json_schema()}
            },
        }
    },
)
async def report_exception(
    request: Request, platform: Platform, tenant: SubmittingCaller, response: Response
) -> Accepted:
    """Validate the report (size and schema) and accept it: 202 once its first
    event is stored; the stages run after the answer. A resend (same idempotency
    key, else same content) answers with the same exception, `created: false`."""
    report = parse_report(
        await request.body(), max_bytes=platform.settings.max_report_bytes
    )
    submission = await platform.report(tenant, report)
    return _accepted(submission, response)


@router.get("/exceptions", response_model=ExceptionPage, summary="List exceptions")
async def list_exceptions(
    platform: Platform,
    tenant: Caller,
    status: ExceptionStatus | None = None,
    category: Category | None = None,
    severity: Severity | None = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,19}$")] = None,
) -> ExceptionPage:
    """The tenant's exceptions (once Intake stored them), newest first."""
    rows = await platform.list_exceptions(
        ExceptionFilter(
            tenant=tenant,
            status=status.value if status else None,
            category=category.value if category else None,
            severity=severity.value if severity else None,
            source=source,
            limit=limit,
            before=int(cursor) if cursor else None,
        )
    )
    more = len(rows) == limit
    return ExceptionPage(
        items=[_summary(row) for row in rows],
        next_cursor=str(rows[-1]["position"]) if rows and more else None,
    )


@router.get(
    "/exceptions/dead-letters",
    response_model=DeadLetterList,
    summary="List dead-lettered events",
)
async def list_dead_letters(
    platform: Platform,
    tenant: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeadLetterList:
    """The tenant's stage runs that failed for good, newest first."""
    found = await platform.dead_letters(tenant, limit)
    return DeadLetterList(items=[_letter(letter, run) for letter, run in found])


@router.get(
    "/exceptions/dead-letters/{dead_letter_id}",
    response_model=DeadLetterView,
    summary="Show a dead letter",
)
async def get_dead_letter(
    dead_letter_id: LetterId, platform: Platform, tenant: Caller
) -> DeadLetterView:
    """One dead letter: the stage, the error and its attempts."""
    letter, run = await platform.dead_letter(tenant, dead_letter_id)
    return _letter(letter, run)


@router.post(
    "/exceptions/dead-letters/{dead_letter_id}/replay",
    status_code=202,
    response_model=ReplayAccepted,
    summary="Replay a dead letter",
)
async def replay_dead_letter(
    dead_letter_id: LetterId, platform: Platform, tenant: Caller
) -> ReplayAccepted:
    """Run the failed stage again from its failed step (same idempotency keys);
    409 when it was replayed already."""
    run = await platform.replay(tenant, dead_letter_id)
    return ReplayAccepted(run_id=run.id, status=run.status)


@router.get(
    "/exceptions/{exception_id}",
    response_model=ExceptionOut,
    summary="Show an exception",
)
async def get_exception(
    exception_id: ExceptionId, platform: Platform, tenant: Caller
) -> ExceptionOut:
    """The exception's status, its events and everything each stage did."""
    found = await platform.get(tenant, exception_id)
    return _detail(found)


@router.post(
    "/exceptions/{exception_id}/events",
    status_code=202,
    response_model=Accepted,
    summary="Add an event to an exception",
    responses={429: RATE_LIMITED},
)
async def add_event(
    exception_id: ExceptionId,
    body: ExceptionUpdate,
    platform: Platform,
    tenant: SubmittingCaller,
    response: Response,
) -> Accepted:
    """New information on the exception; it passes every stage again, after the
    exception's earlier events."""
    submission = await platform.update(tenant, exception_id, body)
    return _accepted(submission, response)


@router.get(
    "/tenants/{tenant_id}/policy", response_model=PolicyOut, summary="Show a policy"
)
async def get_policy(
    tenant_id: Annotated[str, Path(max_length=64)], platform: Platform, tenant: Caller
) -> PolicyOut:
    """The caller's policy in force (another tenant's is not found)."""
    _own(tenant, tenant_id)
    policy, version = await platform.policy(tenant)
    return PolicyOut(tenant=tenant, version=version, policy=policy)


@router.put(
    "/tenants/{tenant_id}/policy", response_model=PolicyOut, summary="Set a policy"
)
async def put_policy(
    tenant_id: Annotated[str, Path(max_length=64)],
    body: TenantPolicy,
    platform: Platform,
    tenant: Caller,
) -> PolicyOut:
    """Replace the caller's policy; events reaching Policy after this follow it."""
    _own(tenant, tenant_id)
    version = await platform.set_policy(tenant, body)
    return PolicyOut(tenant=tenant, version=version, policy=body)


# helpers -------------------------------------------------------------------------
def _own(tenant: str, tenant_id: str) -> None:
    if tenant_id != tenant:
        raise TenantNotFoundError(tenant_id)


def _accepted(submission: Submission, response: Response) -> Accepted:
    link = f"/exceptions/{submission.exception_id}"
    response.headers["Location"] = link
    return Accepted(
        exception_id=submission.exception_id,
        event_id=submission.event_id,
        status=ExceptionStatus.RECEIVED,
        created=submission.created,
        links=Links(self=link),
    )


def _summary(row: dict[str, Any]) -> ExceptionSummary:
    return ExceptionSummary(
        exception_id=row["id"], status=row["status"], category=row["category"],
        severity=row["severity"], source=row["source"], kind=row["kind"],
        message=row["message"], event_count=row["last_seq"],
        created_at=row["created_at"], updated_at=row["updated_at"],
    )  # fmt: skip


def _detail(found: dict[str, Any]) -> ExceptionOut:
    stages = [StageRecordOut.model_validate(_pick(StageRecordOut, r))
              for r in found["stages"]]  # fmt: skip
    tools = [ToolExecutionOut.model_validate(_pick(ToolExecutionOut, r))
             for r in found["tools"]]  # fmt: skip
    events = [
        EventOut.model_validate({
            **_pick(EventOut, e),
            "stages": [s for s in stages if s.seq == e["seq"]],
            "tools": [t for t in tools if t.seq == e["seq"]],
        })
        for e in found["events"]
    ]  # fmt: skip
    history = _history(found, stages, tools)
    summary = _summary(found)
    return ExceptionOut(
        **summary.model_dump(),
        external_ref=found["external_ref"],
        fingerprint=found["fingerprint"],
        events=events,
        pending_events=[PendingEventOut.model_validate(_pick(PendingEventOut, p))
                        for p in found["pending_events"]],
        history=history,
    )  # fmt: skip


def _history(
    found: dict[str, Any],
    stages: list[StageRecordOut],
    tools: list[ToolExecutionOut],
) -> list[HistoryEntry]:
    entries = [
        HistoryEntry(at=e["ingested_at"], seq=e["seq"], stage=None,
                     what=f"event {e['seq']} ({e['type']}) accepted")
        for e in found["events"]
    ]  # fmt: skip
    entries += [
        HistoryEntry(at=p["ingested_at"], seq=None, stage=None,
                     what=f"event {p['event_id']} ({p['type']}) accepted")
        for p in found["pending_events"]
    ]  # fmt: skip
    entries += [
        HistoryEntry(at=s.recorded_at, seq=s.seq, stage=s.stage,
                     what=f"{s.stage.value} done: {_says(s)}")
        for s in stages
    ]  # fmt: skip
    entries += [
        HistoryEntry(at=t.recorded_at, seq=t.seq, stage=Stage.TOOL,
                     what=f"{t.tool} executed as {t.external_id}"
                     f" (attempts {t.attempts}{', replayed' if t.replayed else ''})")
        for t in tools
    ]  # fmt: skip
    entries += [
        HistoryEntry(at=e["updated_at"], seq=e["seq"], stage=e["failed_stage"],
                     what=f"dead-lettered: {(e['error'] or {}).get('message', '')}")
        for e in found["events"]
        if e["status"] == ExceptionStatus.DEAD_LETTERED.value
    ]  # fmt: skip
    return sorted(entries, key=lambda entry: entry.at)


def _says(record: StageRecordOut) -> str:
    result = record.result
    if record.stage is Stage.TRIAGE:
        return f"{result.get('category')}/{result.get('severity')}"
    if record.stage is Stage.POLICY:
        return str(result.get("action"))
    if record.stage is Stage.PLAYBOOK:
        return str(result.get("playbook"))
    if record.stage is Stage.TOOL:
        return ", ".join(result.get("executed", []))
    return f"event {result.get('seq')} stored"


def _pick(model: type[BaseModel], row: dict[str, Any]) -> dict[str, Any]:
    return {name: row[name] for name in model.model_fields if name in row}


def _letter(letter: DeadLetter, run: RunRecord) -> DeadLetterView:
    data = run.input if isinstance(run.input, dict) else {}
    return DeadLetterView(
        id=letter.id,
        exception_id=run.session_id,
        event_id=data.get("event_id"),
        stage=letter.workflow.removeprefix("exceptions."),
        run_id=letter.run_id,
        run_status=run.status,
        error=public_error(letter.error) or {},
        attempts=letter.attempts,
        created_at=letter.created_at,
        replayed_at=letter.replayed_at,
    )


__all__ = ["ExceptionNotFoundError", "router"]
