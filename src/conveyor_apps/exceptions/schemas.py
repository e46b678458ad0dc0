"""The HTTP bodies of the exception platform's API: what a client reads back
about an accepted event, an exception, its history, dead letters and policies."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from conveyor import RunStatus

from .handoffs import Stage
from .models import Category, Severity
from .status import ExceptionStatus
from .tenants import TenantPolicy


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Links(_Out):
    """Where to follow the exception."""

    self: str


class Accepted(_Out):
    """An accepted event: processing happens after the answer."""

    exception_id: str
    event_id: str
    status: ExceptionStatus
    created: bool = Field(description="False when this event was already accepted.")
    links: Links


class StageRecordOut(_Out):
    """What one stage did for one event."""

    stage: Stage
    seq: int
    run_id: str
    worker: str = Field(description="The worker that ran the stage.")
    attempts: int
    result: dict[str, Any]
    started_at: float
    recorded_at: float


class ToolExecutionOut(_Out):
    """One tool call, recorded with its idempotency key."""

    tool: str
    seq: int
    position: int
    idempotency_key: str
    external_id: str
    status_code: int
    replayed: bool
    attempts: int
    recorded_at: float


class EventOut(_Out):
    """One event of the exception and where it got to."""

    event_id: str
    seq: int
    type: str
    status: ExceptionStatus
    category: Category | None
    severity: Severity | None
    action: str | None
    playbook: str | None
    failed_stage: Stage | None
    error: dict[str, Any] | None
    ingested_at: float
    finished_at: float | None
    stages: list[StageRecordOut]
    tools: list[ToolExecutionOut]


class PendingEventOut(_Out):
    """An accepted event Intake has not taken yet."""

    event_id: str
    type: str
    ingested_at: float


class HistoryEntry(_Out):
    """One line of the exception's history, oldest first."""

    at: float
    seq: int | None
    stage: Stage | None
    what: str


class ExceptionSummary(_Out):
    """An exception in a listing."""

    exception_id: str
    status: ExceptionStatus
    category: Category | None
    severity: Severity | None
    source: str
    kind: str
    message: str
    event_count: int
    created_at: float
    updated_at: float


class ExceptionOut(ExceptionSummary):
    """An exception: status, events and the full history of what was done."""

    external_ref: str | None
    fingerprint: str | None
    events: list[EventOut]
    pending_events: list[PendingEventOut]
    history: list[HistoryEntry]


class ExceptionPage(_Out):
    """One page, newest first; pass `next_cursor` as `cursor` for the next."""

    items: list[ExceptionSummary]
    next_cursor: str | None


class DeadLetterView(_Out):
    """A stage run that failed for good, with the event it carried."""

    id: str
    exception_id: str | None
    event_id: str | None
    stage: str
    run_id: str
    run_status: RunStatus
    error: dict[str, Any]
    attempts: int
    created_at: float
    replayed_at: float | None


class DeadLetterList(_Out):
    """Dead letters not yet replayed, newest first."""

    items: list[DeadLetterView]


class ReplayAccepted(_Out):
    """The stage run the replay resumed."""

    run_id: str
    status: RunStatus


class PolicyOut(_Out):
    """A tenant's policy in force; version 0 is the catalog's default."""

    tenant: str
    version: int
    policy: TenantPolicy
