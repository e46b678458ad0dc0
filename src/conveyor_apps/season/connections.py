"""`ConnectionManager`: the planners' WebSocket connections, one live subscription to
the session's events each, counted and dropped as soon as they close."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from fastapi import WebSocket

from conveyor import Conveyor
from conveyor.bus.base import Subscription, Topic
from conveyor.errors import SlowConsumerError

from .messages import envelope, message_for

logger = logging.getLogger("conveyor_apps.season")

NORMAL_CLOSE, TRY_AGAIN_LATER = 1000, 1013
CLOSE_TIMEOUT_S = 1.0


@dataclass(eq=False, slots=True)
class Connection:
    """One planner's socket and what it listens to."""

    websocket: WebSocket
    session_id: str
    tenant: str
    closed: asyncio.Event = field(default_factory=asyncio.Event)


class ConnectionManager:
    """Serves `/ws/orchestrator/{session_id}` sockets.

    Args:
        conveyor: the engine whose session events are relayed.
        max_queued: events a slow client may fall behind before it is dropped.
    """

    def __init__(self, conveyor: Conveyor, *, max_queued: int = 1000) -> None:
        self.conveyor = conveyor
        self.max_queued = max_queued
        self._by_session: dict[str, set[Connection]] = {}

    # counting ------------------------------------------------------------------------
    @property
    def connection_count(self) -> int:
        """Open connections, all sessions together."""
        return sum(len(found) for found in self._by_session.values())

    def session_count(self, session_id: str) -> int:
        """Open connections listening to `session_id`."""
        return len(self._by_session.get(session_id, ()))

    def _add(self, connection: Connection) -> None:
        self._by_session.setdefault(connection.session_id, set()).add(connection)

    def _drop(self, connection: Connection) -> None:
        found = self._by_session.get(connection.session_id)
        if found is None:
            return
        found.discard(connection)
        if not found:
            del self._by_session[connection.session_id]
        connection.closed.set()

    # sending -------------------------------------------------------------------------
    async def send(self, connection: Connection, message: dict[str, Any]) -> bool:
        """Send `message`; a connection that cannot take it is dropped (False)."""
        try:
            await connection.websocket.send_text(json.dumps(message, default=str))
        except Exception:  # closed or broken: whatever the server reports, it's gone
            self._drop(connection)
            return False
        return True

    # serving -------------------------------------------------------------------------
    async def serve(self, websocket: WebSocket, session_id: str, tenant: str) -> None:
        """Accept `websocket` and relay the session's events until it closes.

        The subscription starts before the `connected` message, so a client that
        waits for it and then starts a run misses none of the run's events.
        """
        await websocket.accept()
        subscription = self.conveyor.bus.subscribe(
            Topic(session_id=session_id, tenant=tenant), max_queued=self.max_queued
        )
        connection = Connection(websocket, session_id, tenant)
        self._add(connection)
        relay = asyncio.create_task(self._relay(connection, subscription))
        listen = asyncio.create_task(self._until_disconnected(connection))
        try:
            hello = envelope("connected", session_id, self.conveyor.clock.now())
            if await self.send(connection, hello):
                await asyncio.wait((relay, listen), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (relay, listen):
                task.cancel()
            await asyncio.gather(relay, listen, return_exceptions=True)
            await subscription.aclose()
            self._drop(connection)
        if relay.done() and not relay.cancelled() and relay.exception() is None:
            await self._close(connection, relay.result())

    async def _relay(self, connection: Connection, subscription: Subscription) -> int:
        """Forward events; the close code to end with when the stream stops."""
        try:
            async for event in subscription:
                message = message_for(event, connection.session_id)
                if message is not None and not await self.send(connection, message):
                    return NORMAL_CLOSE
        except SlowConsumerError as exc:
            logger.warning(
                "season stream %s dropped: %s", connection.session_id, exc.message
            )
            notice = envelope(
                "error",
                connection.session_id,
                self.conveyor.clock.now(),
                run_id=None,
                workflow=None,
                error={"type": type(exc).__name__, "message": exc.message},
                status_code=503,
            )
            await self.send(connection, notice)
            return TRY_AGAIN_LATER
        return NORMAL_CLOSE  # the bus closed: the server is going down

    @staticmethod
    async def _until_disconnected(connection: Connection) -> None:
        websocket = connection.websocket
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass  # planners have nothing to say on this stream

    @staticmethod
    async def _close(connection: Connection, code: int) -> None:
        # the client may be gone already; the connection ends either way
        with contextlib.suppress(Exception):
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                await connection.websocket.close(code)
