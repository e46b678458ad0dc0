"""Every error conveyor raises, in one hierarchy so callers can catch by family.

```
ConveyorError
├── ConfigurationError (ValueError)
├── ValidationFailedError (ValueError)           bad input, names the field
├── NotFoundError (LookupError)
│   ├── RunNotFoundError
│   ├── WorkflowNotFoundError
│   ├── AgentNotFoundError
│   └── DeadLetterNotFoundError
├── IllegalTransitionError                         run FSM refused a move
├── NonDeterminismError                            replay diverged from history
├── StepError
│   ├── AgentTimeoutError (TimeoutError)           one attempt ran too long
│   ├── CircuitOpenError                           breaker refused the call
│   └── StepFailedError                            recorded failure, replayed
├── RunFailedError                                 result() of a failed run
├── RunCancelledError                              result() of a cancelled run
├── LeaseLostError                                 a fenced write was refused
├── SlowConsumerError                              a stream subscriber fell behind
├── StoreError                                     storage failed (translated)
├── RateLimitedError                               a tenant submits too fast
└── PayloadTooLargeError (ValueError)
```
"""

from __future__ import annotations

from typing import Any


class ConveyorError(Exception):
    """An error raised by conveyor."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (type(self).__doc__ or type(self).__name__).strip())

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self.args[0]) if self.args else ""

    def details(self) -> dict[str, Any]:
        """Structured, non-secret fields for API error bodies."""
        return {}


class ConfigurationError(ConveyorError, ValueError):
    """The configuration is invalid."""


class ValidationFailedError(ConveyorError, ValueError):
    """The input is invalid."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")

    def details(self) -> dict[str, Any]:
        return {"field": self.field, "problem": self.problem}


class PayloadTooLargeError(ConveyorError, ValueError):
    """The payload exceeds the configured size limit."""

    def __init__(self, field: str, size_bytes: int, max_bytes: int) -> None:
        self.field = field
        self.size_bytes = size_bytes
        self.max_bytes = max_bytes
        super().__init__(f"{field} is {size_bytes} bytes; the limit is {max_bytes}")

    def details(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "size_bytes": self.size_bytes,
            "max_bytes": self.max_bytes,
        }


class NotFoundError(ConveyorError, LookupError):
    """The object does not exist."""


class RunNotFoundError(NotFoundError):
    """No such run."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id!r} not found")


class WorkflowNotFoundError(NotFoundError):
    """No workflow is registered under that name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"workflow {name!r} is not registered")


class AgentNotFoundError(NotFoundError):
    """No agent is registered under that name."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"agent {name!r} is not registered")


class DeadLetterNotFoundError(NotFoundError):
    """No such dead letter."""

    def __init__(self, dead_letter_id: str) -> None:
        self.dead_letter_id = dead_letter_id
        super().__init__(f"dead letter {dead_letter_id!r} not found")


class IllegalTransitionError(ConveyorError):
    """The run cannot move to that state from its current one."""

    def __init__(self, run_id: str, source: str, target: str) -> None:
        self.run_id = run_id
        self.source = source
        self.target = target
        super().__init__(f"run {run_id}: illegal transition {source} -> {target}")

    def details(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.target}


class NonDeterminismError(ConveyorError):
    """Replay took a different path than the recorded history."""

    def __init__(self, run_id: str, step_id: int, expected: str, got: str) -> None:
        self.run_id = run_id
        self.step_id = step_id
        self.expected = expected
        self.got = got
        super().__init__(
            f"run {run_id}: step #{step_id} was recorded as {expected!r} but the "
            f"workflow now calls {got!r}; workflow code must be deterministic"
        )

    def details(self) -> dict[str, Any]:
        return {"step_id": self.step_id, "expected": self.expected, "got": self.got}


class StepError(ConveyorError):
    """A step did not produce a result."""


class AgentTimeoutError(StepError, TimeoutError):
    """The agent did not finish within its timeout."""

    def __init__(self, agent_name: str, timeout: float) -> None:
        self.agent_name = agent_name
        self.timeout = timeout
        super().__init__(f"agent {agent_name!r} timed out after {timeout:g} s")

    def details(self) -> dict[str, Any]:
        return {"agent_name": self.agent_name, "timeout": self.timeout}


class CircuitOpenError(StepError):
    """The agent's circuit breaker is open; the call was not attempted."""

    retryable = False

    def __init__(self, agent_name: str, retry_after_s: float) -> None:
        self.agent_name = agent_name
        self.retry_after_s = retry_after_s
        super().__init__(
            f"circuit for {agent_name!r} is open; retry in {retry_after_s:.3g} s"
        )

    def details(self) -> dict[str, Any]:
        return {"agent_name": self.agent_name, "retry_after_s": self.retry_after_s}


class StepFailedError(StepError):
    """A step failed for good inside a workflow (raised the same way on replay).

    `error_details` keeps the original error's `details()` (e.g. an agent timeout's
    `agent_name` and `timeout`), so callers can still tell what went wrong.
    """

    def __init__(
        self,
        step: str,
        error_type: str,
        error_message: str,
        attempts: int,
        error_details: dict[str, Any] | None = None,
    ) -> None:
        self.step = step
        self.error_type = error_type
        self.error_message = error_message
        self.attempts = attempts
        self.error_details = error_details or {}
        super().__init__(
            f"step {step!r} failed after {attempts} attempt(s): "
            f"{error_type}: {error_message}"
        )

    def details(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "error_type": self.error_type,
            "attempts": self.attempts,
        }


class RunFailedError(ConveyorError):
    """The run failed."""

    def __init__(self, run_id: str, error: str) -> None:
        self.run_id = run_id
        self.error = error
        super().__init__(f"run {run_id} failed: {error}")


class RunCancelledError(ConveyorError):
    """The run was cancelled."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"run {run_id} was cancelled")


class LeaseLostError(ConveyorError):
    """Another worker owns the run now; this worker's write was refused."""

    def __init__(self, run_id: str, epoch: int) -> None:
        self.run_id = run_id
        self.epoch = epoch
        super().__init__(f"run {run_id}: lease epoch {epoch} is no longer current")


class RateLimitedError(ConveyorError):
    """The tenant submits faster than its rate; retry after `retry_after_s`."""

    def __init__(self, tenant: str, limit_per_s: float, retry_after_s: float) -> None:
        self.tenant = tenant
        self.limit_per_s = limit_per_s
        self.retry_after_s = retry_after_s
        super().__init__(
            f"tenant {tenant!r} submits more than {limit_per_s:g} a second; "
            f"retry after {retry_after_s:.2f} s"
        )

    def details(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "limit_per_s": self.limit_per_s,
            "retry_after_s": round(self.retry_after_s, 3),
        }


class StoreError(ConveyorError):
    """The store could not complete the operation."""


class SlowConsumerError(ConveyorError):
    """The subscriber fell too far behind and was disconnected."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        super().__init__(
            f"subscriber fell more than {max_queued} events behind and was dropped; "
            "reconnect with the last seq you saw"
        )


class InstanceLockedError(ConfigurationError):
    """Another conveyor process is already running workflows on this store."""


class RunSuspended(BaseException):
    """Internal signal: the run stops here and resumes later (never user-visible)."""
