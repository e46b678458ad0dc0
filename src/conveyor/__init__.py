"""conveyor: durable, observable, testable orchestration of agent and worker
pipelines. Start with `Conveyor`, `@workflow` and `@agent`."""

from __future__ import annotations

from .agents import Agent as Agent
from .agents import StepContext as StepContext
from .agents import agent as agent
from .app import Conveyor as Conveyor
from .app import RunHandle as RunHandle
from .context import RunContext as RunContext
from .errors import AgentNotFoundError as AgentNotFoundError
from .errors import AgentTimeoutError as AgentTimeoutError
from .errors import CircuitOpenError as CircuitOpenError
from .errors import ConfigurationError as ConfigurationError
from .errors import ConveyorError as ConveyorError
from .errors import IllegalTransitionError as IllegalTransitionError
from .errors import LeaseLostError as LeaseLostError
from .errors import NonDeterminismError as NonDeterminismError
from .errors import NotFoundError as NotFoundError
from .errors import RunCancelledError as RunCancelledError
from .errors import RunFailedError as RunFailedError
from .errors import RunNotFoundError as RunNotFoundError
from .errors import StepFailedError as StepFailedError
from .errors import ValidationFailedError as ValidationFailedError
from .errors import WorkflowNotFoundError as WorkflowNotFoundError
from .events import Event as Event
from .events import EventType as EventType
from .handoff import HandoffManager as HandoffManager
from .handoff import LogEntry as LogEntry
from .policies import BreakerPolicy as BreakerPolicy
from .policies import RetryPolicy as RetryPolicy
from .runs import RunRecord as RunRecord
from .runs import RunStatus as RunStatus
from .settings import Settings as Settings
from .workflows import Workflow as Workflow
from .workflows import workflow as workflow

__all__ = [
    "Agent",
    "AgentNotFoundError",
    "AgentTimeoutError",
    "BreakerPolicy",
    "CircuitOpenError",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Event",
    "EventType",
    "HandoffManager",
    "IllegalTransitionError",
    "LeaseLostError",
    "LogEntry",
    "NonDeterminismError",
    "NotFoundError",
    "RetryPolicy",
    "RunCancelledError",
    "RunContext",
    "RunFailedError",
    "RunHandle",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "Settings",
    "StepContext",
    "StepFailedError",
    "ValidationFailedError",
    "Workflow",
    "WorkflowNotFoundError",
    "agent",
    "workflow",
]
