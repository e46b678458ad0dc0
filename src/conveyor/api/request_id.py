"""Request ids: echo a sane `X-Request-ID` from the client or make one, keep it in
the ASGI scope for error bodies and logs, and return it on every response."""

from __future__ import annotations

import re
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode("latin-1")
_VALID = re.compile(r"[\x20-\x7e]{1,128}")
_RESPONSE_STARTS = frozenset({"http.response.start", "websocket.http.response.start"})


def request_id_of(scope: Scope) -> str | None:
    """The id given to the current request by `RequestIdMiddleware`."""
    state = scope.get("state") or {}
    value = state.get("request_id")
    return value if isinstance(value, str) else None


def choose_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's id when it is at most 128 printable ASCII characters, else a
    new uuid4 hex."""
    for name, value in headers:
        if name == _HEADER_KEY:
            text = value.decode("latin-1").strip()
            if _VALID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


class RequestIdMiddleware:
    """Outermost middleware: assigns the id and adds the response header."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = choose_request_id(scope.get("headers", []))
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        header = (_HEADER_KEY, request_id.encode("latin-1"))

        async def send_with_id(message: Message) -> None:
            if message["type"] in _RESPONSE_STARTS:
                headers = [
                    item
                    for item in message.get("headers", [])
                    if item[0] != _HEADER_KEY
                ]
                message = {**message, "headers": [*headers, header]}
            await send(message)

        await self.app(scope, receive, send_with_id)
