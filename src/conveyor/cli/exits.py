"""The exit codes of every `conveyor` command, and which failure maps to which.

| code | meaning                                                            |
|------|--------------------------------------------------------------------|
| 0    | success; the run completed                                         |
| 1    | the run failed or was dead-lettered                                |
| 2    | usage error: bad option or input, or the server refused the request |
| 3    | the run was cancelled                                              |
| 4    | not found: no such run, workflow or dead letter                    |
| 5    | cannot reach the server, or the server failed (5xx)                |
| 6    | timed out                                                          |
| 130  | interrupted (Ctrl-C)                                               |
"""

from __future__ import annotations

from enum import IntEnum

from ..client import ClientError, ServerUnreachableError
from ..errors import ConfigurationError, NotFoundError, ValidationFailedError


class ExitCode(IntEnum):
    """What a `conveyor` command's exit status means."""

    OK = 0
    RUN_FAILED = 1
    USAGE = 2
    RUN_CANCELLED = 3
    NOT_FOUND = 4
    UNAVAILABLE = 5
    TIMED_OUT = 6
    INTERRUPTED = 130


EXIT_CODE_HELP: dict[ExitCode, str] = {
    ExitCode.OK: "success; the run completed",
    ExitCode.RUN_FAILED: "the run failed or was dead-lettered",
    ExitCode.USAGE: "usage error: bad option or input, or a request the server refused",
    ExitCode.RUN_CANCELLED: "the run was cancelled",
    ExitCode.NOT_FOUND: "not found: no such run, workflow or dead letter",
    ExitCode.UNAVAILABLE: "cannot reach the server, or the server failed (5xx)",
    ExitCode.TIMED_OUT: "timed out",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C)",
}

EPILOG = "**Exit codes**\n\n" + "\n".join(
    f"* **{int(code)}** {text}" for code, text in EXIT_CODE_HELP.items()
)
"""The `--help` epilog (markdown, as the CLI renders help)."""


def for_status(status: str | None) -> ExitCode:
    """The exit code for a run that ended (or not yet) in `status`."""
    if status in ("failed", "dead"):
        return ExitCode.RUN_FAILED
    if status == "cancelled":
        return ExitCode.RUN_CANCELLED
    return ExitCode.OK


def for_error(error: BaseException) -> ExitCode:
    """The exit code for an error that ended a command."""
    if isinstance(error, TimeoutError):
        return ExitCode.TIMED_OUT
    if isinstance(error, ServerUnreachableError):
        return ExitCode.UNAVAILABLE
    if isinstance(error, ClientError):
        if error.status == 404:
            return ExitCode.NOT_FOUND
        if error.status is None or error.status >= 500:
            return ExitCode.UNAVAILABLE
        return ExitCode.USAGE
    if isinstance(error, NotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(error, ValidationFailedError | ConfigurationError | ValueError):
        return ExitCode.USAGE
    return ExitCode.UNAVAILABLE
