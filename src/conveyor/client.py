"""`ConveyorClient`: an async client for a conveyor server's HTTP and WebSocket API.

Server errors arrive as `ClientError` with the server's error type, message and
request id; transport failures are translated at this boundary:

```
ConveyorError
└── ClientError                     status, error, message, request_id, details
    ├── ServerUnreachableError      no answer from the URL (status None)
    └── RequestTimeoutError (TimeoutError)
```
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from websockets.asyncio.client import connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from .errors import ConveyorError
from .events import Event

TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "dead"})
"""Run statuses after which nothing more happens (a dead run may be replayed)."""

_NORMAL_CLOSE = 1000


class ClientError(ConveyorError):
    """The server refused or failed a request."""

    def __init__(
        self,
        status: int | None,
        error: str,
        message: str,
        request_id: str | None = None,
        details: Any = None,
    ) -> None:
        self.status = status
        self.error = error
        self.request_id = request_id
        self.error_details = details
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "error": self.error,
            "request_id": self.request_id,
            "details": self.error_details,
        }

    def __str__(self) -> str:
        prefix = f"{self.status} {self.error}" if self.status else self.error
        suffix = f" (request {self.request_id})" if self.request_id else ""
        return f"{prefix}: {self.message}{suffix}"


class ServerUnreachableError(ClientError):
    """Nothing answered at the server's URL."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            None, "ServerUnreachable", f"cannot reach conveyor at {url}: {reason}"
        )


class RequestTimeoutError(ClientError, TimeoutError):
    """The server did not answer in time."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(None, "RequestTimeout", f"no answer from {url} in time")


class ConveyorClient:
    """Talk to a conveyor server. Use as `async with ConveyorClient(url) as client:`.

    Args:
        base_url: the server, e.g. `http://127.0.0.1:8000`.
        api_key: sent as `X-API-Key` (selects the tenant).
        admin_key: sent as `X-Admin-Key` on admin operations (dead-letter replay).
        timeout_s: per-request timeout.
        max_reconnects: how often `follow` reconnects after losing the stream.
        transport: an httpx transport (tests pass `httpx.MockTransport`).
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        admin_key: str | None = None,
        *,
        timeout_s: float = 10.0,
        max_reconnects: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.admin_key = admin_key
        self.timeout_s = timeout_s
        self.max_reconnects = max_reconnects
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=timeout_s,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> ConveyorClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # runs ---------------------------------------------------------------------------
    async def start_run(
        self,
        workflow: str,
        input: Any = None,
        *,
        key: str | None = None,
        idempotency_key: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """Start a run: `{run_id, status, created, links}` (`created` is False when
        the idempotency key was used before and the existing run is returned)."""
        body: dict[str, Any] = {"workflow": workflow, "input": input}
        optional = {
            "key": key,
            "idempotency_key": idempotency_key,
            "session_id": session_id,
        }
        body.update({name: value for name, value in optional.items() if value})
        return await self._request("POST", "/v1/runs", json=body)

    async def get_run(self, run_id: str) -> dict[str, Any]:
        """The run record."""
        return await self._request("GET", f"/v1/runs/{_seg(run_id)}")

    async def list_runs(
        self,
        *,
        status: str | None = None,
        workflow: str | None = None,
        key: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        """One page of runs, newest first: `{items, next_cursor}`."""
        params = {
            name: value
            for name, value in (
                ("status", status),
                ("workflow", workflow),
                ("key", key),
                ("limit", limit),
                ("cursor", cursor),
            )
            if value is not None
        }
        return await self._request("GET", "/v1/runs", params=params)

    async def cancel(self, run_id: str) -> dict[str, Any]:
        """Ask the run to stop; the run record."""
        return await self._request("POST", f"/v1/runs/{_seg(run_id)}/cancel")

    async def signal(
        self, run_id: str, name: str, payload: Any = None
    ) -> dict[str, Any]:
        """Send the signal `name` with `payload` to the run."""
        path = f"/v1/runs/{_seg(run_id)}/signals/{_seg(name)}"
        return await self._request("POST", path, json={"payload": payload})

    async def query(self, run_id: str, name: str) -> Any:
        """The value the run publishes under `name`."""
        path = f"/v1/runs/{_seg(run_id)}/query/{_seg(name)}"
        body = await self._request("GET", path)
        return body.get("value")

    # dead letters -------------------------------------------------------------------
    async def dead_letters(self) -> list[dict[str, Any]]:
        """Dead letters not yet replayed, newest first."""
        body = await self._request("GET", "/v1/dead-letters")
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    async def dead_letter(self, dead_letter_id: str) -> dict[str, Any]:
        """One dead letter: `{id, run_id, workflow, error, attempts, created_at}`."""
        return await self._request("GET", f"/v1/dead-letters/{_seg(dead_letter_id)}")

    async def replay(self, dead_letter_id: str) -> dict[str, Any]:
        """Replay a dead letter (its run resumes at the failed step):
        `{run_id, status}`."""
        path = f"/v1/dead-letters/{_seg(dead_letter_id)}/replay"
        headers = {"X-Admin-Key": self.admin_key} if self.admin_key else None
        return await self._request("POST", path, headers=headers)

    async def health(self) -> dict[str, Any]:
        """The server's health report."""
        return await self._request("GET", "/healthz")

    # events -------------------------------------------------------------------------
    async def follow(self, run_id: str, after: int = 0) -> AsyncGenerator[Event, None]:
        """The run's events with seq > `after`: stored ones, then live ones until the
        server ends the stream after the run ends. A dropped connection is resumed
        from the last seq seen (up to `max_reconnects` times in a row), so no event
        is missed or repeated.

        Raises:
            ClientError: the server refused the stream (e.g. 404 for an unknown run).
            ServerUnreachableError: the stream could not be (re)established.
        """
        last = after
        failures = 0
        while True:
            url = self._ws_url(run_id, last)
            said = ""  # what the server said before closing, if anything
            try:
                async with connect(
                    url,
                    additional_headers=self._ws_headers(),
                    open_timeout=self.timeout_s,
                ) as ws:
                    async for raw in ws:
                        event, notice = _parse_message(raw)
                        said = notice or said
                        if event is None or event.seq <= last:
                            continue
                        last, failures = event.seq, 0
                        yield event
                code = ws.close_code
            except InvalidStatus as exc:
                raise _handshake_error(exc) from exc
            except InvalidURI as exc:
                raise ServerUnreachableError(self.base_url, str(exc)) from exc
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd is not None else None
                reason = f"stream closed ({code or 'abruptly'})"
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                code, reason = None, str(exc) or type(exc).__name__
            else:
                reason = f"stream closed ({code})"
            if said:
                reason = f"{reason}: {said}"
            if code == _NORMAL_CLOSE:
                return
            if code is not None and 4000 <= code < 5000:
                raise _close_error(code, reason)
            failures += 1
            if failures > self.max_reconnects:
                raise ServerUnreachableError(self.base_url, reason)
            await asyncio.sleep(min(2.0, 0.1 * 2**failures))

    async def wait(
        self,
        run_id: str,
        *,
        after: int = 0,
        timeout_s: float | None = None,
        on_event: Callable[[Event], None] | None = None,
    ) -> dict[str, Any]:
        """Follow the run until it ends (calling `on_event` for each event) and
        return its final record.

        Raises:
            TimeoutError: the run did not end within `timeout_s`.
        """
        async with asyncio.timeout(timeout_s):
            last = after
            while True:
                before = last
                async with contextlib.aclosing(self.follow(run_id, last)) as events:
                    async for event in events:
                        last = event.seq
                        if on_event is not None:
                            on_event(event)
                run = await self.get_run(run_id)
                if run.get("status") in TERMINAL_STATUSES:
                    return run
                if last == before:  # stream ended with nothing new: don't spin
                    await asyncio.sleep(0.2)

    async def history(self, run_id: str) -> list[Event]:
        """The events the run has recorded so far (does not wait for new ones)."""
        run = await self.get_run(run_id)
        until = int(run.get("last_seq") or 0)
        events: list[Event] = []
        if until <= 0:
            return events
        async with contextlib.aclosing(self.follow(run_id)) as stream:
            async for event in stream:
                events.append(event)
                if event.seq >= until:
                    break
        return events

    # plumbing -----------------------------------------------------------------------
    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        url = f"{self.base_url}{path}"
        try:
            response = await self._http.request(
                method, path, json=json, params=params, headers=headers
            )
        except httpx.TimeoutException as exc:
            raise RequestTimeoutError(url) from exc
        except httpx.HTTPError as exc:
            raise ServerUnreachableError(self.base_url, _reason(exc)) from exc
        if response.is_error:
            raise _response_error(response)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise ClientError(
                response.status_code,
                "InvalidResponse",
                f"{method} {url} answered with a body that is not a JSON object",
                response.headers.get("x-request-id"),
            )
        return body

    def _ws_url(self, run_id: str, after: int) -> str:
        parts = urlsplit(self.base_url)
        scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
        path = f"{parts.path}/v1/runs/{_seg(run_id)}/ws"
        return urlunsplit((scheme, parts.netloc, path, urlencode({"after": after}), ""))

    def _ws_headers(self) -> dict[str, str]:
        return {"X-API-Key": self.api_key} if self.api_key else {}


def _seg(value: str) -> str:
    """A path segment, escaped so an id can't change the route."""
    return quote(value, safe="")


def _reason(exc: httpx.HTTPError) -> str:
    text = str(exc) or type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text = f"{text} ({cause})"
    return text


def _response_error(response: httpx.Response) -> ClientError:
    """The `ClientError` for an error response, from its JSON body when it has one."""
    request_id = response.headers.get("x-request-id")
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ClientError(
            response.status_code,
            str(body.get("error") or f"HTTP{response.status_code}"),
            body["message"],
            body.get("request_id") or request_id,
            body.get("details"),
        )
    if isinstance(body, dict) and "detail" in body:  # a framework-level error
        detail = body["detail"]
        message = detail if isinstance(detail, str) else json.dumps(detail)
        return ClientError(
            response.status_code, f"HTTP{response.status_code}", message, request_id
        )
    text = response.text.strip()[:500] or response.reason_phrase
    return ClientError(
        response.status_code, f"HTTP{response.status_code}", text, request_id
    )


def _handshake_error(exc: InvalidStatus) -> ClientError:
    """The `ClientError` for a WebSocket handshake the server refused."""
    response = exc.response
    body = bytes(response.body or b"")
    return _response_error(
        httpx.Response(
            response.status_code,
            headers=list(response.headers.raw_items()),
            content=body,
        )
    )


def _close_error(code: int, reason: str) -> ClientError:
    """A close code 4xxx carries an HTTP-like status in its last three digits."""
    status = code - 4000 if 4100 <= code < 4600 else None
    return ClientError(status, "StreamClosed", reason)


def _parse_message(raw: str | bytes) -> tuple[Event | None, str]:
    """A stream message: an `Event`, or the text of an error the server sent
    before closing the stream (e.g. a slow-consumer notice)."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    if not isinstance(data.get("seq"), int):
        if data.get("type") == "error":
            return None, f"{data.get('error', 'Error')}: {data.get('message', '')}"
        return None, ""
    event = Event(
        run_id=str(data.get("run_id", "")),
        seq=data["seq"],
        type=str(data.get("type", "")),
        timestamp=float(data.get("timestamp") or 0.0),
        tenant=str(data.get("tenant", "")),
        workflow=str(data.get("workflow", "")),
        session_id=data.get("session_id"),
        step=data.get("step"),
        attempt=data.get("attempt"),
        data=data.get("data") or {},
    )
    return event, ""
