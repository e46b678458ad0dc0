"""`/ws/orchestrator/{session_id}`: the planner's live stream of a session's runs.

The handshake is checked like the engine's own streams (allowed `Origin`, the
tenant's API key in `X-API-Key` or `?api_key=`); a refused handshake gets the usual
JSON error body when the server can send one.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import JSONResponse

from conveyor.api.auth import connection_key
from conveyor.api.deps import api_state
from conveyor.api.errors import (
    PermissionDeniedError,
    conveyor_error_body,
    status_for,
)
from conveyor.api.request_id import request_id_of
from conveyor.errors import ConveyorError, ValidationFailedError

from .connections import ConnectionManager

POLICY_VIOLATION = 1008
MAX_SESSION_ID = 200

router = APIRouter()


def connections_of(websocket: WebSocket) -> ConnectionManager:
    """The connection manager installed on the app serving `websocket`."""
    found = getattr(websocket.app.state, "season_connections", None)
    assert isinstance(found, ConnectionManager), "season is not installed"
    return found


@router.websocket("/ws/orchestrator/{session_id}")
async def orchestrator_stream(websocket: WebSocket, session_id: str) -> None:
    """Every message of the session's runs (see `messages`), after a `connected`
    message once the stream is live; open until the client leaves."""
    if not session_id or len(session_id) > MAX_SESSION_ID:
        problem = f"must be 1 to {MAX_SESSION_ID} characters"
        await _deny(websocket, ValidationFailedError("path.session_id", problem))
        return
    tenant = await _admit(websocket)
    if tenant is not None:
        await connections_of(websocket).serve(websocket, session_id, tenant)


async def _admit(websocket: WebSocket) -> str | None:
    """The caller's tenant, or None once the handshake has been refused."""
    auth = api_state(websocket).auth
    origin = websocket.headers.get("origin")
    if not auth.origin_allowed(origin, websocket.headers.get("host")):
        await _deny(websocket, PermissionDeniedError(f"origin {origin!r} not allowed"))
        return None
    try:
        return auth.tenant_for(connection_key(websocket, allow_query=True))
    except ConveyorError as exc:
        await _deny(websocket, exc)
        return None


async def _deny(websocket: WebSocket, error: ConveyorError) -> None:
    body = conveyor_error_body(error, request_id_of(websocket.scope))
    status = status_for(error)
    if "websocket.http.response" in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(JSONResponse(body, status_code=status))
    else:  # the server cannot send a body: a close before accept is a plain 403
        await websocket.close(POLICY_VIOLATION, body["message"][:120])
