"""The HTTP bodies. Request models forbid unknown fields, so a client can never set
server-owned fields (tenant, status, attempt, lease); response models document the
OpenAPI schema."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..runs import RunRecord, RunStatus
from ..store.base import DeadLetter


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields are an error, never ignored."""

    model_config = ConfigDict(extra="forbid")


class StartRunRequest(RequestBody):
    """Start a run of `workflow` with `input`."""

    workflow: str = Field(min_length=1, max_length=200, examples=["three_steps"])
    input: Any = None
    key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Ordering key: runs with the same key run one at a time, in order.",
    )
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="Submitting the same key again returns the first run.",
    )
    session_id: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        description="The client stream the run reports to (/v1/sessions/{id}/ws).",
    )


class SignalRequest(RequestBody):
    """A signal's payload."""

    payload: Any = None


class RunLinks(BaseModel):
    """Where to find the run and its streams (paths on this server)."""

    self: str
    events: str
    ws: str
    cancel: str


class StartRunResponse(BaseModel):
    """The submitted run."""

    run_id: str
    status: RunStatus
    created: bool = Field(description="False when the idempotency key already existed.")
    links: RunLinks


class Run(BaseModel):
    """A run as clients see it."""

    run_id: str
    workflow: str
    status: RunStatus
    key: str | None
    idempotency_key: str | None
    session_id: str | None
    parent_run_id: str | None
    input: Any
    output: Any
    error: dict[str, Any] | None
    created_at: float
    updated_at: float
    last_seq: int
    cancel_requested: bool

    @classmethod
    def of(cls, record: RunRecord) -> Run:
        """The public view of `record` (errors without their traceback)."""
        fields = record.to_public()
        fields["error"] = public_error(record.error)
        return cls.model_validate(fields)


class RunPage(BaseModel):
    """One page of runs, newest first; pass `next_cursor` as `cursor` for the next."""

    items: list[Run]
    next_cursor: str | None


class SignalResponse(BaseModel):
    """The stored signal."""

    signal_id: int


class QueryResponse(BaseModel):
    """The value a run published under `name`."""

    name: str
    value: Any


class DeadLetterOut(BaseModel):
    """A run that exhausted its retries, with its last error."""

    id: str
    run_id: str
    workflow: str
    error: dict[str, Any]
    attempts: int
    created_at: float
    replayed_at: float | None = None

    @classmethod
    def of(cls, letter: DeadLetter) -> DeadLetterOut:
        """The public view of `letter` (no traceback)."""
        return cls(
            id=letter.id,
            run_id=letter.run_id,
            workflow=letter.workflow,
            error=public_error(letter.error) or {},
            attempts=letter.attempts,
            created_at=letter.created_at,
            replayed_at=letter.replayed_at,
        )


class DeadLetterPage(BaseModel):
    """Dead letters not yet replayed, newest first."""

    items: list[DeadLetterOut]


class ReplayResponse(BaseModel):
    """The run the replay resumed."""

    run_id: str
    status: RunStatus


class ErrorBody(BaseModel):
    """Every error response."""

    error: str = Field(description="The error type, e.g. RunNotFoundError.")
    message: str
    request_id: str | None
    details: Any = None


RATE_LIMITED: dict[str, Any] = {
    "model": ErrorBody,
    "description": "Over the tenant's submission rate for longer than a request"
    " may be held; retry after `Retry-After`",
    "headers": {
        "Retry-After": {
            "description": "Seconds to wait before submitting again",
            "schema": {"type": "integer"},
        }
    },
}
"""The OpenAPI response of a route that answers 429 beyond the submission rate."""


class Health(BaseModel):
    """Liveness or readiness."""

    status: str


def public_error(error: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored error without the fields only operators should see."""
    if error is None:
        return None
    return {key: value for key, value in error.items() if key != "traceback"}
