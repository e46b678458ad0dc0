"""Events: every state change of a run, numbered gap-free per run.

The same events are stored, streamed over WebSocket and SSE, logged, counted in
metrics and asserted on in tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class EventType(StrEnum):
    """The kinds of events a run emits."""

    RUN_SUBMITTED = "run.submitted"
    RUN_STARTED = "run.started"
    RUN_RECOVERED = "run.recovered"
    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"
    RUN_CANCELLED = "run.cancelled"
    RUN_CANCEL_REQUESTED = "run.cancel_requested"
    RUN_DEAD_LETTERED = "run.dead_lettered"
    RUN_REPLAYED = "run.replayed"
    RUN_PROGRESS = "run.progress"
    STEP_STARTED = "step.started"
    STEP_PROGRESS = "step.progress"
    STEP_COMPLETED = "step.completed"
    STEP_RETRYING = "step.retrying"
    STEP_FAILED = "step.failed"
    TIMER_STARTED = "timer.started"
    TIMER_FIRED = "timer.fired"
    SIGNAL_RECEIVED = "signal.received"
    STATE_UPDATED = "state.updated"


TERMINAL_EVENTS = frozenset(
    {
        EventType.RUN_COMPLETED,
        EventType.RUN_CANCELLED,
        EventType.RUN_DEAD_LETTERED,
    }
)
"""After one of these a run stream ends (a dead-lettered run may be replayed later)."""
TERMINAL_TYPES = frozenset(event.value for event in TERMINAL_EVENTS)
"""The same, as the `Event.type` strings."""


@dataclass(frozen=True, slots=True, init=False)
class Event:
    """One thing that happened to a run."""

    run_id: str
    seq: int
    type: str
    timestamp: float
    tenant: str
    workflow: str
    session_id: str | None = None
    step: str | None = None
    attempt: int | None = None
    data: dict[str, Any] = field(default_factory=dict)

    def __init__(
        self,
        run_id: str,
        seq: int,
        type: str,
        timestamp: float,
        tenant: str,
        workflow: str,
        session_id: str | None = None,
        step: str | None = None,
        attempt: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        # What the generated __init__ does, through the slots' own setters: a run
        # makes nine events, and `object.__setattr__` by name cost a third more.
        s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = _EVENT_SLOTS
        s0(self, run_id)
        s1(self, seq)
        s2(self, type)
        s3(self, timestamp)
        s4(self, tenant)
        s5(self, workflow)
        s6(self, session_id)
        s7(self, step)
        s8(self, attempt)
        s9(self, {} if data is None else data)

    def to_dict(self) -> dict[str, Any]:
        """The wire form of the event."""
        return {
            "seq": self.seq,
            "type": self.type,
            "timestamp": self.timestamp,
            "tenant": self.tenant,
            "session_id": self.session_id,
            "run_id": self.run_id,
            "workflow": self.workflow,
            "step": self.step,
            "attempt": self.attempt,
            "data": self.data,
        }


_EVENT_SLOTS = tuple(
    Event.__dict__[name].__set__
    for name in (
        "run_id", "seq", "type", "timestamp", "tenant", "workflow",
        "session_id", "step", "attempt", "data",
    )
)  # fmt: skip
