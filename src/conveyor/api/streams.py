"""Event streams: Server-Sent Events and WebSockets for one run (resumable from a seq)
and a WebSocket for a session's live events. Each client gets its own bounded
backlog (`relay.py`); the handshake is authenticated and its `Origin` checked."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Annotated, Any

from fastapi import (
    APIRouter,
    Header,
    Path,
    Query,
    Request,
    WebSocket,
    WebSocketDisconnect,
)
from fastapi.responses import JSONResponse, StreamingResponse

from ..bus.base import Topic
from ..errors import ConveyorError, SlowConsumerError, ValidationFailedError
from ..events import Event
from ..serde import dumps
from .auth import connection_key
from .deps import ApiState, State, Tenant, api_state
from .errors import (
    InternalError,
    PermissionDeniedError,
    conveyor_error_body,
    status_for,
)
from .relay import Backlog, drain, pump_run, pump_topic
from .request_id import request_id_of
from .runs import ERRORS, RunId

logger = logging.getLogger("conveyor.api")

Pump = Coroutine[Any, Any, None]

router = APIRouter(tags=["streams"])

KEEPALIVE_S = 15.0
CLOSE_TIMEOUT_S = 1.0
MAX_SEQ = 2**53
NORMAL, INTERNAL_ERROR, TRY_AGAIN_LATER, POLICY_VIOLATION = 1000, 1011, 1013, 1008

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The run's events as Server-Sent Events (`id: seq`, "
        "`event: type`, `data: event JSON`), ending after the terminal event.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


# Server-Sent Events ----------------------------------------------------------------
@router.get(
    "/v1/runs/{run_id}/events",
    response_class=StreamingResponse,
    responses={**ERRORS, **SSE_RESPONSE},
    summary="Stream a run's events (SSE)",
)
async def run_events(
    request: Request,
    run_id: RunId,
    state: State,
    tenant: Tenant,
    after: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    last_event_id: Annotated[
        int | None, Header(alias="Last-Event-ID", ge=0, le=MAX_SEQ)
    ] = None,
) -> StreamingResponse:
    """Stored events after `Last-Event-ID` (or `after`), then live ones until the
    run's terminal event; a comment line every 15 s keeps proxies from closing it."""
    await state.conveyor.get_run(run_id, tenant)
    start = last_event_id if last_event_id is not None else (after or 0)
    backlog = _backlog(state, "sse")

    def pump() -> Pump:
        return pump_run(state.conveyor, run_id, tenant, start, backlog)

    return StreamingResponse(
        _sse(state, backlog, pump, request_id_of(request.scope)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse_frame(event: Event) -> str:
    """One event in the SSE wire format."""
    return f"id: {event.seq}\nevent: {event.type}\ndata: {dumps(event.to_dict())}\n\n"


async def _sse(
    state: ApiState,
    backlog: Backlog,
    pump: Callable[[], Pump],
    request_id: str | None,
) -> AsyncIterator[str]:
    task = asyncio.create_task(pump())
    gauge = state.metrics.streams.labels("sse")
    gauge.inc()
    try:
        async for frame in drain(backlog, sse_frame, KEEPALIVE_S):
            yield ": keep-alive\n\n" if frame is None else frame
    except Exception as exc:
        body = _stream_error(exc, request_id)
        yield f"event: error\ndata: {dumps(body)}\n\n"
    finally:
        gauge.dec()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# WebSockets ------------------------------------------------------------------------
@router.websocket("/v1/runs/{run_id}/ws")
async def run_websocket(websocket: WebSocket, run_id: str) -> None:
    """Each event of the run as JSON text (after `?after=SEQ`); closes with 1000
    after the terminal event."""
    state = api_state(websocket)
    tenant = await _admit(websocket, state)
    if tenant is None:
        return
    try:
        after = int(websocket.query_params.get("after", "0"))
        if not 0 <= after <= MAX_SEQ:
            raise ValueError(after)
    except ValueError:
        problem = f"must be an integer from 0 to {MAX_SEQ}"
        await _deny(websocket, ValidationFailedError("query.after", problem))
        return
    try:
        await state.conveyor.get_run(run_id, tenant)
    except ConveyorError as exc:
        await _deny(websocket, exc)
        return
    backlog = _backlog(state, "ws")
    await _relay(
        websocket,
        state,
        "ws",
        backlog,
        lambda: pump_run(state.conveyor, run_id, tenant, after, backlog),
    )


@router.websocket("/v1/sessions/{session_id}/ws")
async def session_websocket(
    websocket: WebSocket, session_id: Annotated[str, Path(max_length=200)]
) -> None:
    """Live events of the tenant's runs started with this session id (stays open)."""
    state = api_state(websocket)
    tenant = await _admit(websocket, state)
    if tenant is None:
        return
    backlog = _backlog(state, "session_ws")
    topic = Topic(session_id=session_id, tenant=tenant)
    await _relay(
        websocket,
        state,
        "session_ws",
        backlog,
        lambda: pump_topic(state.conveyor, topic, backlog),
    )


async def _admit(websocket: WebSocket, state: ApiState) -> str | None:
    """The tenant of an acceptable handshake, or None once it has been refused."""
    origin = websocket.headers.get("origin")
    if not state.auth.origin_allowed(origin, websocket.headers.get("host")):
        await _deny(websocket, PermissionDeniedError(f"origin {origin!r} not allowed"))
        return None
    try:
        return state.auth.tenant_for(connection_key(websocket, allow_query=True))
    except ConveyorError as exc:
        await _deny(websocket, exc)
        return None


async def _deny(websocket: WebSocket, error: ConveyorError) -> None:
    """Refuse the handshake with the usual JSON error body and status."""
    body = conveyor_error_body(error, request_id_of(websocket.scope))
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        response = JSONResponse(body, status_code=status_for(error))
        await websocket.send_denial_response(response)
    else:  # the server cannot send a body: a close before accept is a plain 403
        await websocket.close(POLICY_VIOLATION, body["message"][:120])


def _backlog(state: ApiState, kind: str) -> Backlog:
    slow = state.metrics.slow_consumers.labels(kind)
    return Backlog(state.settings.max_ws_queue, on_slow=slow.inc)


async def _relay(
    websocket: WebSocket,
    state: ApiState,
    kind: str,
    backlog: Backlog,
    pump: Callable[[], Pump],
) -> None:
    await websocket.accept()
    with state.metrics.streams.labels(kind).track_inprogress():
        await _serve_relay(websocket, backlog, pump)


async def _serve_relay(
    websocket: WebSocket, backlog: Backlog, pump: Callable[[], Pump]
) -> None:
    pump_task = asyncio.create_task(pump())
    sender = asyncio.create_task(_send_events(websocket, backlog))
    receiver = asyncio.create_task(_until_disconnected(websocket))
    tasks = (pump_task, sender, receiver)
    try:
        waiting = set(tasks)
        while True:
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if receiver in done:
                return  # the client left; nothing to say
            if sender in done or backlog.failure is not None:
                break
            waiting.discard(pump_task)  # relayed everything; the sender finishes
        failure: BaseException | None = backlog.failure
        if failure is None and sender.done() and not sender.cancelled():
            failure = sender.exception()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    request_id = request_id_of(websocket.scope)
    if failure is None:
        await _close(websocket, NORMAL)
    elif isinstance(failure, SlowConsumerError):
        await _close(websocket, TRY_AGAIN_LATER, _stream_error(failure, request_id))
    elif not isinstance(failure, OSError | WebSocketDisconnect):  # else: gone
        await _close(websocket, INTERNAL_ERROR, _stream_error(failure, request_id))


async def _send_events(websocket: WebSocket, backlog: Backlog) -> None:
    while (event := await backlog.get()) is not None:
        await websocket.send_text(dumps(event.to_dict()))


async def _until_disconnected(websocket: WebSocket) -> None:
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass  # clients have nothing to say on these streams


async def _close(
    websocket: WebSocket, code: int, message: dict[str, Any] | None = None
) -> None:
    """Tell the client why (best effort) and close; a client that does not read
    cannot hold this up for longer than CLOSE_TIMEOUT_S."""
    # the client may be gone or stuck already; the connection ends either way
    with contextlib.suppress(Exception):
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            if message is not None:
                await websocket.send_text(dumps(message))
            await websocket.close(code)


def _stream_error(error: BaseException, request_id: str | None) -> dict[str, Any]:
    """The message that ends a stream early: an error body with `type: error`."""
    if not isinstance(error, ConveyorError):
        logger.error("request %s: event stream failed", request_id, exc_info=error)
        error = InternalError()
    return {"type": "error", **conveyor_error_body(error, request_id)}
