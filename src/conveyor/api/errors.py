"""Every API error as one JSON shape, `{error, message, request_id, details}`: the
HTTP-only error types, the engine-error → status table and the exception handlers
that translate at the boundary."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import (
    AgentTimeoutError,
    ConfigurationError,
    ConveyorError,
    IllegalTransitionError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    SlowConsumerError,
    ValidationFailedError,
)
from .request_id import request_id_of

logger = logging.getLogger("conveyor.api")


class AuthenticationError(ConveyorError):
    """A valid API key is required (header X-API-Key)."""


class PermissionDeniedError(ConveyorError):
    """This operation needs the admin key (header X-Admin-Key)."""


class ServiceUnavailableError(ConveyorError):
    """The service is not ready."""


class InternalError(ConveyorError):
    """An unexpected error occurred; quote the request id when reporting it."""


STATUS_BY_ERROR: tuple[tuple[type[ConveyorError], int], ...] = (
    (NotFoundError, 404),
    (ValidationFailedError, 422),
    (PayloadTooLargeError, 413),
    (IllegalTransitionError, 409),
    (AgentTimeoutError, 504),
    (ConfigurationError, 400),
    (AuthenticationError, 401),
    (PermissionDeniedError, 403),
    (ServiceUnavailableError, 503),
    (RateLimitedError, 429),
)

# Error types for statuses Starlette raises itself (unknown route, wrong method, …).
TYPE_BY_STATUS = {
    400: "BadRequestError",
    401: AuthenticationError.__name__,
    403: PermissionDeniedError.__name__,
    404: NotFoundError.__name__,
    405: "MethodNotAllowedError",
    413: PayloadTooLargeError.__name__,
    415: "UnsupportedMediaTypeError",
    422: ValidationFailedError.__name__,
}


def status_for(error: ConveyorError) -> int:
    """The HTTP status of an engine error (500 for anything unexpected)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def error_body(
    error: str, message: str, request_id: str | None, details: Any = None
) -> dict[str, Any]:
    """The JSON body of every error response."""
    return {
        "error": error,
        "message": message,
        "request_id": request_id,
        "details": details,
    }


def conveyor_error_body(error: ConveyorError, request_id: str | None) -> dict[str, Any]:
    """The body for an engine error; 5xx messages are the type's generic text, so
    internals (paths, SQL) never leak."""
    status = status_for(error)
    safe = status < 500 or isinstance(error, _SAFE_5XX)
    message = error.message if safe else _default_message(error)
    details: Any = error.details()
    if isinstance(error, ValidationFailedError):
        details = [details]
    return error_body(type(error).__name__, message, request_id, details)


# server-side errors whose own message is meant for clients
_SAFE_5XX = (AgentTimeoutError, SlowConsumerError, ServiceUnavailableError)


def _default_message(error: BaseException) -> str:
    return (type(error).__doc__ or type(error).__name__).strip().splitlines()[0]


def field_path(loc: Sequence[int | str]) -> str:
    """`("body", "input", "items", 0)` → `body.input.items[0]`."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


async def _conveyor_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConveyorError)
    status = status_for(exc)
    if status == 500:
        logger.error(
            "request %s failed: %s", request_id_of(request.scope), exc, exc_info=exc
        )
    body = conveyor_error_body(exc, request_id_of(request.scope))
    headers = None
    if isinstance(exc, RateLimitedError):  # whole seconds (RFC 9110)
        headers = {"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))}
    return JSONResponse(body, status_code=status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    error = TYPE_BY_STATUS.get(status, f"HTTP{status}Error")
    detail = exc.detail if isinstance(exc.detail, str) else None
    message = detail or _phrase(status)
    if status == 404 and detail == "Not Found":
        message = f"no route for {request.method} {request.url.path}"
    body = error_body(error, message, request_id_of(request.scope))
    return JSONResponse(body, status_code=status, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {"field": field_path(item.get("loc", ())), "problem": str(item.get("msg"))}
        for item in exc.errors()
    ]
    first = problems[0] if problems else {"field": "", "problem": "invalid request"}
    message = f"{first['field']}: {first['problem']}"
    body = error_body(
        ValidationFailedError.__name__, message, request_id_of(request.scope), problems
    )
    return JSONResponse(body, status_code=422)


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app raises answer with the JSON error body."""
    app.add_exception_handler(ConveyorError, _conveyor_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class CatchAllMiddleware:
    """Turns an unexpected exception into a 500 `InternalError` body (the message is
    logged with the request id, never sent) instead of a bare text response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            request_id = request_id_of(scope)
            logger.error("request %s failed", request_id, exc_info=exc)
            if started:
                raise  # the status line is out; only the server can cut the stream
            body = error_body(
                InternalError.__name__, _default_message(InternalError()), request_id
            )
            await JSONResponse(body, status_code=500)(scope, receive, send)
