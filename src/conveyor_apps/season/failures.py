"""Why a season plan failed, in the terms the API and the stream answer with.

A failed run stores its error as `{type, message, step, details}`; `error_from_info`
turns that back into the typed error (a missing category, an unreadable strategy, an
invalid value, a slow agent), and `status_of` gives each its HTTP status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from conveyor.errors import (
    AgentTimeoutError,
    ConveyorError,
    NotFoundError,
    RunCancelledError,
    ValidationFailedError,
)

from .errors import (
    DataNotFoundError,
    ExtractorBackendError,
    ParameterExtractionError,
    SeasonError,
)


class PlanFailedError(SeasonError):
    """The season plan failed; quote the run id when reporting it."""

    def __init__(self, run_id: str, step: str | None, error_type: str) -> None:
        self.run_id = run_id
        self.step = step
        self.error_type = error_type
        where = f" in {step}" if step else ""
        super().__init__(f"season plan {run_id} failed{where} ({error_type})")

    def details(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "step": self.step, "error_type": self.error_type}


class PlanCancelledError(SeasonError):
    """The season plan was cancelled before it finished."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f"season plan {run_id} was cancelled")

    def details(self) -> dict[str, Any]:
        return {"run_id": self.run_id}


Rebuild = Callable[[Mapping[str, Any], str], ConveyorError]

_REBUILD: dict[str, Rebuild] = {
    "DataNotFoundError": lambda d, _: DataNotFoundError(str(d["category_id"])),
    "ParameterExtractionError": lambda d, _: ParameterExtractionError(d["missing"]),
    "ValidationFailedError": lambda d, _: ValidationFailedError(
        str(d["field"]), str(d["problem"])
    ),
    "AgentTimeoutError": lambda d, _: AgentTimeoutError(
        str(d["agent_name"]), float(d["timeout"])
    ),
    "ExtractorBackendError": lambda d, message: ExtractorBackendError(
        message, status_code=d.get("status_code")
    ),
}


def error_from_info(run_id: str, info: Mapping[str, Any] | None) -> ConveyorError:
    """The typed error a failed run's stored error describes (`PlanFailedError` for
    anything unexpected, so internals stay out of answers)."""
    info = info or {}
    error_type = str(info.get("type", "Error"))
    if error_type == RunCancelledError.__name__:
        return PlanCancelledError(run_id)
    rebuild = _REBUILD.get(error_type)
    details = info.get("details")
    if rebuild is not None and isinstance(details, Mapping):
        try:
            return rebuild(details, str(info.get("message", "")))
        except (KeyError, TypeError, ValueError):
            pass  # an older or foreign record: fall through to the generic error
    step = info.get("step")
    return PlanFailedError(run_id, str(step) if step else None, error_type)


STATUS = (
    (ParameterExtractionError, 422),
    (ValidationFailedError, 422),
    (NotFoundError, 404),
    (AgentTimeoutError, 504),
    (ExtractorBackendError, 502),
    (PlanCancelledError, 409),
)


def status_of(error: BaseException) -> int:
    """The HTTP status for a season error (500 for anything else)."""
    for kind, status in STATUS:
        if isinstance(error, kind):
            return status
    return 500


def error_message(error: ConveyorError) -> str:
    """The message safe to show a client: the error's own, or for an unexpected
    server error only its type's summary."""
    if status_of(error) < 500 or isinstance(error, _SAFE):
        return error.message
    return (type(error).__doc__ or type(error).__name__).strip().splitlines()[0]


_SAFE = (AgentTimeoutError, ExtractorBackendError, PlanFailedError)


def error_payload(error: ConveyorError, request_id: str | None) -> dict[str, Any]:
    """The API's error body, `{error, message, request_id, details}`, for `error`."""
    details: Any = error.details()
    if isinstance(error, ValidationFailedError):
        details = [details]  # as the engine's API lists field problems
    return {
        "error": type(error).__name__,
        "message": error_message(error),
        "request_id": request_id,
        "details": details,
    }
