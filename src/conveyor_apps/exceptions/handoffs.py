"""The typed contexts the stages hand each other: every stage's input carries what
the earlier stages decided, so a stage needs nothing but its input (and a replayed
stage sees exactly what it saw the first time)."""

from __future__ import annotations

import zlib
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from .models import (
    AttributeKey,
    ExceptionReport,
    IdempotencyKey,
    NormalizedException,
    Scalar,
    Severity,
)
from .playbooks import PlaybookSelection, PlaybookStep
from .policy import PolicyDecision
from .status import ExceptionStatus
from .tools import ToolRequest
from .triage import Triage


class Stage(StrEnum):
    """The stages an event passes, in order; each is a workflow and a worker queue."""

    INTAKE = "intake"
    TRIAGE = "triage"
    POLICY = "policy"
    PLAYBOOK = "playbook"
    TOOL = "tool"

    @property
    def workflow(self) -> str:
        """The name of the stage's workflow."""
        return f"exceptions.{self.value}"

    def key(self, exception_id: str, lanes: int = 0) -> str:
        """The engine key of this stage's runs for one exception: its events pass
        the stage one at a time, in the order they were produced. With `lanes`,
        the tenant's exceptions share that many keys per stage (an exception
        always the same one), which bounds how many of the tenant's events the
        stage works on at once."""
        if lanes:
            return f"{self.value}:lane{zlib.crc32(exception_id.encode()) % lanes}"
        return f"{exception_id}:{self.value}"

    @property
    def reached(self) -> ExceptionStatus:
        """The status an event has once this stage began (tool) or ended (others)."""
        return _REACHED[self]


_REACHED = {
    Stage.INTAKE: ExceptionStatus.RECEIVED,
    Stage.TRIAGE: ExceptionStatus.TRIAGED,
    Stage.POLICY: ExceptionStatus.POLICY_APPLIED,
    Stage.PLAYBOOK: ExceptionStatus.PLAYBOOK_SELECTED,
    Stage.TOOL: ExceptionStatus.REMEDIATING,
}


class EventType(StrEnum):
    """What an event of an exception says."""

    REPORTED = "reported"
    UPDATED = "updated"


class _Context(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExceptionUpdate(_Context):
    """New information on a known exception (`POST /exceptions/{id}/events`)."""

    message: str | None = Field(None, min_length=1, max_length=4000)
    attributes: dict[AttributeKey, Scalar] = Field(default_factory=dict, max_length=32)
    severity_hint: Severity | None = None
    idempotency_key: IdempotencyKey | None = None


class EventContext(_Context):
    """Which event of which exception a stage works on."""

    exception_id: str
    event_id: str
    tenant: str
    type: EventType
    ingested_at: float = Field(description="When the API accepted the event.")
    trace: str | None = Field(None, description="W3C traceparent of the chain.")


class IntakeInput(EventContext):
    """Intake's input: the report as accepted (a first report or an update)."""

    report: ExceptionReport | None = None
    update: ExceptionUpdate | None = None


class TriageInput(EventContext):
    """Triage's input: the normalized exception and the event's number."""

    seq: int
    exception: NormalizedException


class PolicyInput(TriageInput):
    """Policy's input: triage's answer too."""

    triage: Triage


class PlaybookInput(PolicyInput):
    """Playbook's input: the tenant's decision too."""

    decision: PolicyDecision


class ToolInput(PlaybookInput):
    """Tool execution's input: the steps to run too."""

    selection: PlaybookSelection
    started_at: float | None = Field(
        None, description="When tool execution began (set by the tool stage)."
    )


class ToolCall(_Context):
    """One tool step of one event."""

    context: EventContext
    seq: int
    position: int
    step: PlaybookStep
    request: ToolRequest


class StageOutcome(_Context):
    """What a stage run returns: the status it left and the run it handed to."""

    stage: Stage
    status: ExceptionStatus
    next_run_id: str | None = None
