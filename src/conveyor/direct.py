"""Agents called directly, outside any workflow: the same policies and the same
events (published, not stored), but nothing is durable."""

from __future__ import annotations

import dataclasses
import uuid
from typing import TYPE_CHECKING, Any

from .agents import Agent, StepContext, call_with_policies
from .events import Event, EventType

if TYPE_CHECKING:
    from .app import Conveyor


async def call_directly(
    app: Conveyor,
    spec: Agent[Any],
    data: Any,
    *,
    tenant: str,
    session_id: str | None,
    timeout_s: float | None,
) -> Any:
    """Run `spec` once under its policies (with `timeout_s` overriding its own)."""
    if timeout_s is not None:
        spec = dataclasses.replace(spec, timeout_s=timeout_s)
    observer = DirectObserver(app, spec.name, tenant, session_id)
    ctx = StepContext(spec.name, None, None, tenant, session_id, observer)
    result, attempts = await call_with_policies(app.runtime, spec, ctx, data)
    observer.completed(attempts)
    return result


class DirectObserver:
    """Publishes the events of one direct call, numbered under its own call id."""

    def __init__(
        self, app: Conveyor, name: str, tenant: str, session_id: str | None
    ) -> None:
        self.app = app
        self.name = name
        self.tenant = tenant
        self.session_id = session_id
        self.call_id = f"call-{uuid.uuid4().hex}"
        self.seq = 0

    def _publish(
        self, type_: EventType, attempt: int | None, data: dict[str, Any]
    ) -> None:
        self.seq += 1
        event = Event(
            run_id=self.call_id,
            seq=self.seq,
            type=type_.value,
            timestamp=self.app.clock.now(),
            tenant=self.tenant,
            workflow="",
            session_id=self.session_id,
            step=self.name,
            attempt=attempt,
            data=data,
        )
        self.app.bus.publish([event])

    def attempt_started(self, attempt: int) -> None:
        self._publish(EventType.STEP_STARTED, attempt, {})

    def attempt_failed(
        self, attempt: int, error: BaseException, backoff_s: float | None
    ) -> None:
        kind = (
            EventType.STEP_RETRYING if backoff_s is not None else EventType.STEP_FAILED
        )
        error_info = {"type": type(error).__name__, "message": str(error)}
        self._publish(kind, attempt, {"error": error_info, "backoff_s": backoff_s})

    def completed(self, attempts: int) -> None:
        """The call returned."""
        self._publish(EventType.STEP_COMPLETED, attempts, {})

    def progress(
        self, fraction: float | None, message: str, data: dict[str, Any]
    ) -> None:
        self._publish(
            EventType.STEP_PROGRESS,
            None,
            {"fraction": fraction, "message": message, **data},
        )
