"""Agent hand-off: register agents at run time, call them by name with a timeout, and
keep an execution log (agent, status, start, duration, error) of every call.

The log is built from the engine's own events, so it covers agents called directly
(`call_agent`) and agents run as durable steps of a workflow alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from .agents import Agent, make_agent
from .app import Conveyor
from .events import Event, EventType
from .policies import NO_RETRY, BreakerPolicy, RetryPolicy

_STARTED = EventType.STEP_STARTED.value
_ENDED = {
    EventType.STEP_COMPLETED.value: "success",
    EventType.STEP_FAILED.value: "failed",
    EventType.STEP_RETRYING.value: "retrying",
}


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One agent call as the execution log shows it."""

    agent: str
    status: str  # "running" | "success" | "failed" | "timeout" | "retrying"
    started_at: float
    duration_s: float | None
    error: str | None
    attempt: int | None
    run_id: str
    session_id: str | None

    def to_dict(self) -> dict[str, Any]:
        """The wire form of the entry."""
        return {
            "agent": self.agent,
            "status": self.status,
            "started_at": self.started_at,
            "duration_s": self.duration_s,
            "error": self.error,
            "attempt": self.attempt,
            "run_id": self.run_id,
            "session_id": self.session_id,
        }


class HandoffManager:
    """Agents by name, called with typed context and logged.

    Args:
        app: the engine; agents are registered on it, so workflows can call them
            by name too (`run.step("demand", context)`).
        max_entries: the log keeps the most recent entries only.
    """

    def __init__(self, app: Conveyor, *, max_entries: int = 10_000) -> None:
        self.app = app
        self.max_entries = max_entries
        self._entries: list[LogEntry] = []
        self._open: dict[tuple[str, str, int | None], int] = {}
        app.bus.add_listener(self._on_event)

    def register_agent(
        self,
        name: str,
        fn: Callable[..., Awaitable[Any]] | Agent[Any],
        *,
        timeout_s: float | None = None,
        retry: RetryPolicy = NO_RETRY,
        breaker: BreakerPolicy | None = None,
        concurrency: int | None = None,
        replace: bool = False,
    ) -> Agent[Any]:
        """Register `fn` (an async function or an `Agent`) under `name`."""
        spec = (
            fn
            if isinstance(fn, Agent)
            else make_agent(
                fn,
                name=name,
                timeout_s=timeout_s,
                retry=retry,
                breaker=breaker,
                concurrency=concurrency,
            )
        )
        if replace:
            self.app.agents.pop(name, None)
        self.app.register(spec)
        return spec

    @property
    def agents(self) -> list[str]:
        """Names of the registered agents."""
        return sorted(self.app.agents)

    async def call_agent(
        self,
        name: str,
        context: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - the spec names it so
        session_id: str | None = None,
        tenant: str = "default",
    ) -> Any:
        """Hand `context` to the agent `name`; raises `AgentTimeoutError(agent_name,
        timeout)` when it takes longer than `timeout` seconds."""
        return await self.app.call(
            name, context, tenant=tenant, session_id=session_id, timeout_s=timeout
        )

    def execution_log(
        self, *, session_id: str | None = None, run_id: str | None = None
    ) -> list[LogEntry]:
        """Calls in the order they started (of one session or run if given)."""
        return [
            entry
            for entry in self._entries
            if (session_id is None or entry.session_id == session_id)
            and (run_id is None or entry.run_id == run_id)
        ]

    def clear(self) -> None:
        """Forget the log."""
        self._entries.clear()
        self._open.clear()

    def _on_event(self, event: Event) -> None:
        if event.step is None or event.type not in (_STARTED, *_ENDED):
            return
        key = (event.run_id, event.step, event.attempt)
        if event.type == _STARTED:
            self._open[key] = len(self._entries)
            self._entries.append(
                LogEntry(
                    agent=event.step,
                    status="running",
                    started_at=event.timestamp,
                    duration_s=None,
                    error=None,
                    attempt=event.attempt,
                    run_id=event.run_id,
                    session_id=event.session_id,
                )
            )
            self._trim()
            return
        index = self._open.pop(key, None)
        if index is None or index >= len(self._entries):
            return
        started = self._entries[index]
        error = event.data.get("error")
        status = _ENDED[event.type]
        if error and error.get("type") == "AgentTimeoutError":
            status = "timeout"
        self._entries[index] = LogEntry(
            agent=started.agent,
            status=status,
            started_at=started.started_at,
            duration_s=max(0.0, event.timestamp - started.started_at),
            error=f"{error.get('type')}: {error.get('message')}" if error else None,
            attempt=event.attempt,
            run_id=started.run_id,
            session_id=started.session_id,
        )

    def _trim(self) -> None:
        excess = len(self._entries) - self.max_entries
        if excess > 0:
            del self._entries[:excess]
            self._open = {
                key: index - excess
                for key, index in self._open.items()
                if index >= excess
            }
