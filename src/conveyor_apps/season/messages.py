"""The planner's stream: engine events of a session turned into WebSocket messages.

Every message has `type`, `timestamp` (ISO 8601, UTC) and `session_id`:

| type | from | fields |
|---|---|---|
| `connected` | the socket is listening | — |
| `workflow_status` | `run.started`, `run.recovered` | `run_id`, `workflow`, `status` |
| `agent_status` | `step.started/completed/retrying/failed` | `run_id`, `agent`, `status` (`started`, `completed`, `retrying`, `failed`), `attempt`, `error` |
| `progress` | `run.progress`, `step.progress` | `run_id`, `agent` (None for the run), `progress` (0..1 or None), `message` |
| `complete` | `run.completed` | `run_id`, `workflow`, `result` |
| `error` | `run.failed`, `run.cancelled`, a dropped stream | `run_id`, `workflow`, `error` `{type, message, step, details}`, `status_code` |
"""  # noqa: E501 - a table reads better unwrapped

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from conveyor import Event, EventType

from .failures import error_from_info, error_message, status_of

_AGENT_STATUS = {
    EventType.STEP_STARTED.value: "started",
    EventType.STEP_COMPLETED.value: "completed",
    EventType.STEP_RETRYING.value: "retrying",
    EventType.STEP_FAILED.value: "failed",
}
_WORKFLOW_STATUS = {
    EventType.RUN_STARTED.value: "started",
    EventType.RUN_RECOVERED.value: "recovered",
}
_PROGRESS = frozenset({EventType.RUN_PROGRESS.value, EventType.STEP_PROGRESS.value})


def iso_timestamp(epoch_s: float) -> str:
    """`epoch_s` as ISO 8601 UTC with milliseconds: `2025-03-01T09:00:00.000Z`."""
    moment = datetime.fromtimestamp(epoch_s, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def envelope(
    type_: str, session_id: str, timestamp: float, **fields: Any
) -> dict[str, Any]:
    """A message with the fields every message has."""
    return {
        "type": type_,
        "timestamp": iso_timestamp(timestamp),
        "session_id": session_id,
        **fields,
    }


def message_for(event: Event, session_id: str) -> dict[str, Any] | None:
    """The message for `event`, or None for events the planner does not see."""
    kind = event.type
    common = {"run_id": event.run_id}
    if kind in _AGENT_STATUS:
        error = event.data.get("error")
        return envelope(
            "agent_status",
            session_id,
            event.timestamp,
            **common,
            agent=event.step,
            status=_AGENT_STATUS[kind],
            attempt=event.attempt,
            error=error if isinstance(error, dict) else None,
        )
    if kind in _PROGRESS:
        agent = event.step if kind == EventType.STEP_PROGRESS.value else None
        return envelope(
            "progress",
            session_id,
            event.timestamp,
            **common,
            agent=agent,
            progress=event.data.get("fraction"),
            message=str(event.data.get("message", "")),
        )
    if kind in _WORKFLOW_STATUS:
        return envelope(
            "workflow_status",
            session_id,
            event.timestamp,
            **common,
            workflow=event.workflow,
            status=_WORKFLOW_STATUS[kind],
        )
    if kind == EventType.RUN_COMPLETED.value:
        return envelope(
            "complete",
            session_id,
            event.timestamp,
            **common,
            workflow=event.workflow,
            result=event.data.get("output"),
        )
    if kind in (EventType.RUN_FAILED.value, EventType.RUN_CANCELLED.value):
        info = event.data.get("error")
        if kind == EventType.RUN_CANCELLED.value:
            info = {"type": "RunCancelledError", "message": "cancelled"}
        return failure_message(
            event, session_id, info if isinstance(info, dict) else {}
        )
    return None


def failure_message(
    event: Event, session_id: str, info: dict[str, Any]
) -> dict[str, Any]:
    """An `error` message for a run that ended badly."""
    error = error_from_info(event.run_id, info)
    return envelope(
        "error",
        session_id,
        event.timestamp,
        run_id=event.run_id,
        workflow=event.workflow,
        error={
            "type": type(error).__name__,
            "message": error_message(error),
            "step": info.get("step"),
            "details": error.details(),
        },
        status_code=status_of(error),
    )
