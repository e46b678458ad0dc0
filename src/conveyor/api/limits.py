"""The request body limit, enforced on the bytes actually received so a chunked body
without `Content-Length` is held to it too."""

from __future__ import annotations

import asyncio
import contextlib

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import PayloadTooLargeError
from .errors import conveyor_error_body
from .request_id import request_id_of

DRAIN_TIMEOUT_S = 5.0


class BodyLimitMiddleware:
    """Reads the request body up to `max_bytes` before the app runs (the routes
    would read it whole anyway) and answers 413 once it grows past that.

    Before answering it reads and drops what the client is still sending, up to
    `drain_bytes`: a server that closes on a half-sent body makes most clients see a
    connection reset instead of the 413.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, drain_bytes: int | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.drain_bytes = drain_bytes or max(4 * max_bytes, 1024 * 1024)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            if declared <= self.drain_bytes:
                await self._drain(receive)
            await self._refuse(scope, receive, send, declared)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client left before sending everything: let the app see that
                await self.app(scope, _replay([message], receive), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                if message.get("more_body", False):
                    size += await self._drain(receive)
                await self._refuse(scope, receive, send, size)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole: Message = {"type": "http.request", "body": b"".join(chunks)}
        await self.app(scope, _replay([whole], receive), send)

    async def _drain(self, receive: Receive) -> int:
        """Read and drop the rest of the body (bounded in bytes and time)."""
        dropped = 0
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(DRAIN_TIMEOUT_S):
                while dropped <= self.drain_bytes:
                    message = await receive()
                    if message["type"] != "http.request":
                        break
                    dropped += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        return dropped

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, size: int
    ) -> None:
        error = PayloadTooLargeError("request body", size, self.max_bytes)
        body = conveyor_error_body(error, request_id_of(scope))
        response = JSONResponse(body, status_code=413, headers={"Connection": "close"})
        await response(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(messages: list[Message], receive: Receive) -> Receive:
    """A `receive` that returns `messages` first, then defers to the server."""
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed
