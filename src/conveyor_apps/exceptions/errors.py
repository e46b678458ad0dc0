"""Errors the exception-processing domain raises, rooted in conveyor's hierarchy so the
API layer maps them to status codes by family (404, 409, 422) without knowing them.

```
ConveyorError
└── ExceptionsError
    ├── ReportInvalidError (ValidationFailedError)      a report field is invalid
    ├── StatusTransitionError (IllegalTransitionError)  the status FSM refused a move
    ├── CatalogError (ConfigurationError)               bad rule, playbook or tenant
    ├── TenantNotFoundError (NotFoundError)             no such tenant
    ├── TenantMismatchError                             a policy met a foreign exception
    └── ToolError                                       a tool call did not succeed
        ├── TransientToolError      retryable = True    5xx, 408, 429, timeouts, network
        └── PermanentToolError      retryable = False   other 4xx, bad input, bad answer
```

A tool error carries `retryable`, which conveyor's `RetryPolicy` honours, so a
permanent failure is not retried and goes straight to the dead letters.
"""

from __future__ import annotations

from typing import Any

from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    IllegalTransitionError,
    NotFoundError,
    ValidationFailedError,
)


class ExceptionsError(ConveyorError):
    """The exception-processing domain failed."""


class ReportInvalidError(ExceptionsError, ValidationFailedError):
    """An exception report is invalid; `field` names the offending field."""


class StatusTransitionError(ExceptionsError, IllegalTransitionError):
    """The exception cannot move to that status from its current one."""

    def __init__(self, exception_id: str, source: str, target: str) -> None:
        IllegalTransitionError.__init__(self, exception_id, source, target)
        self.exception_id = exception_id
        self.args = (
            f"exception {exception_id}: illegal status transition {source} -> {target}",
        )


class CatalogError(ExceptionsError, ConfigurationError):
    """Triage rules, playbooks or tenants are invalid; the message names the entry."""

    def __init__(self, entry: str, problem: str) -> None:
        self.entry = entry
        self.problem = problem
        super().__init__(f"{entry}: {problem}")

    def details(self) -> dict[str, Any]:
        return {"entry": self.entry, "problem": self.problem}


class TenantNotFoundError(ExceptionsError, NotFoundError):
    """No such tenant."""

    def __init__(self, tenant_id: str) -> None:
        self.tenant_id = tenant_id
        super().__init__(f"tenant {tenant_id!r} not found")


class TenantMismatchError(ExceptionsError):
    """A tenant's policy was asked about another tenant's exception."""

    def __init__(self, policy_tenant: str, exception_tenant: str) -> None:
        self.policy_tenant = policy_tenant
        self.exception_tenant = exception_tenant
        super().__init__(
            f"the policy of tenant {policy_tenant!r} does not apply to an exception "
            f"of tenant {exception_tenant!r}"
        )


class ToolError(ExceptionsError):
    """A tool call did not succeed."""

    retryable = True

    def __init__(
        self, tool: str, problem: str, *, status_code: int | None = None
    ) -> None:
        self.tool = tool
        self.problem = problem
        self.status_code = status_code
        where = f" (HTTP {status_code})" if status_code is not None else ""
        super().__init__(f"tool {tool!r} failed{where}: {problem}")

    def details(self) -> dict[str, Any]:
        return {
            "tool": self.tool,
            "status_code": self.status_code,
            "retryable": self.retryable,
        }


class TransientToolError(ToolError):
    """A tool call failed in a way another attempt may fix."""

    retryable = True


class PermanentToolError(ToolError):
    """A tool call failed in a way no retry can fix."""

    retryable = False
