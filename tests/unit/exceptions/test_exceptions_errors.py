"""Domain errors belong to conveyor's families and carry their structured details."""

from __future__ import annotations

import pytest

from conveyor.errors import (
    ConfigurationError,
    ConveyorError,
    NotFoundError,
    ValidationFailedError,
)
from conveyor.policies import RetryPolicy
from conveyor_apps.exceptions import (
    CatalogError,
    ExceptionsError,
    PermanentToolError,
    ReportInvalidError,
    TenantMismatchError,
    TenantNotFoundError,
    ToolError,
    TransientToolError,
)


def test_families() -> None:
    """Each error is catchable by the builtin and conveyor families it belongs to."""
    cases: list[tuple[ExceptionsError, tuple[type[BaseException], ...]]] = [
        (ReportInvalidError("source", "bad"), (ValidationFailedError, ValueError)),
        (CatalogError("rule #1", "bad"), (ConfigurationError, ValueError)),
        (TenantNotFoundError("nobody"), (NotFoundError, LookupError)),
        (TenantMismatchError("acme", "globex"), (ConveyorError,)),
        (TransientToolError("notify", "down"), (ToolError,)),
    ]
    for error, families in cases:
        every: tuple[type[BaseException], ...] = (ExceptionsError, ConveyorError)
        for family in every + families:
            assert isinstance(error, family), f"{error!r} is not a {family.__name__}"


def test_messages_and_details() -> None:
    """Messages name the subject; details are the structured, non-secret fields."""
    catalog = CatalogError("rule #2 'x'", "severity: bad")
    assert str(catalog) == "rule #2 'x': severity: bad"
    assert catalog.details() == {"entry": "rule #2 'x'", "problem": "severity: bad"}
    assert str(TenantNotFoundError("nobody")) == "tenant 'nobody' not found"
    assert "'acme'" in str(TenantMismatchError("acme", "globex"))


def test_tool_errors_say_whether_to_retry() -> None:
    """Transient tool errors are retried by RetryPolicy; permanent ones are not."""
    policy = RetryPolicy()
    transient = TransientToolError("notify", "busy", status_code=503)
    permanent = PermanentToolError("notify", "bad request", status_code=400)
    assert policy.is_retryable(transient), "a 503 deserves another attempt"
    assert not policy.is_retryable(permanent), "a 400 must not be retried"
    assert str(transient) == "tool 'notify' failed (HTTP 503): busy"
    assert str(PermanentToolError("quarantine", "no target")) == (
        "tool 'quarantine' failed: no target"
    )
    assert permanent.details() == {
        "tool": "notify",
        "status_code": 400,
        "retryable": False,
    }


@pytest.mark.parametrize("error_type", [TransientToolError, PermanentToolError])
def test_tool_errors_keep_their_parts(error_type: type[ToolError]) -> None:
    """A tool error keeps the tool, the problem and the status code."""
    error = error_type("open_ticket", "boom", status_code=None)
    assert (error.tool, error.problem, error.status_code) == (
        "open_ticket",
        "boom",
        None,
    )
