"""The planner's WebSocket stream on a real server with real clients: message types
and fields, several connections at once, tenants kept apart, slow clients dropped."""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest
from season_support import (
    SeasonServer,
    assert_silent,
    read_to_close,
    read_until,
    run_workflow_body,
    until_connected,
)
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conveyor.testing import wait_until
from conveyor_apps.season import Scenario, SeasonPlan
from conveyor_apps.season.connections import Connection

AGENTS = ["parameters", "context", "demand", "inventory"]


async def test_websocket_message_flow(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """A run started with the session id streams agent_status (started) for each
    agent, progress, and ends with complete carrying the plan; every message has
    type, an ISO timestamp and the session id."""
    session_id = "flow-session"
    async with server.stream(session_id) as ws:
        hello = await until_connected(ws)
        assert hello["session_id"] == session_id, f"got {hello}"
        async with server.client() as client:
            response = await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["zara_style"].description,
                    session_id=session_id,
                    background=True,
                ),
            )
        assert response.status_code == 202, f"expected 202, got {response.text}"
        run_id = response.json()["run_id"]
        messages = await read_until(ws, "complete", "error")
    types = [message["type"] for message in messages]
    assert types[-1] == "complete", f"expected to end at complete, got {types}"
    for message in messages:
        assert message["session_id"] == session_id, f"expected {session_id}: {message}"
        assert message["run_id"] == run_id, f"expected run {run_id}: {message}"
        datetime.fromisoformat(message["timestamp"])  # raises unless ISO 8601
    started = [
        m["agent"]
        for m in messages
        if m["type"] == "agent_status" and m["status"] == "started"
    ]
    assert started == AGENTS, (
        f"expected agents started in order {AGENTS}, got {started}"
    )
    completed = [
        m["agent"]
        for m in messages
        if m["type"] == "agent_status" and m["status"] == "completed"
    ]
    assert completed == AGENTS, f"expected every agent to complete, got {completed}"
    progress = [m for m in messages if m["type"] == "progress"]
    run_progress = [m["progress"] for m in progress if m["agent"] is None]
    assert run_progress == [0.0, 0.25, 0.5, 0.75, 1.0], f"got {run_progress}"
    assert {m["agent"] for m in progress} >= {None, "demand"}, f"got {progress}"
    assert types.index("workflow_status") < types.index("agent_status"), types
    plan = SeasonPlan.model_validate(messages[-1]["result"])
    assert plan.forecast.total_units == 8000, f"got {plan.forecast.total_units}"
    assert plan.inventory.manufacturing_qty == 10000, f"got {plan.inventory}"


async def test_failed_run_streams_an_error(server: SeasonServer) -> None:
    """A run that fails streams the failed agent and an error message with the
    error's type and HTTP status."""
    async with server.stream("error-session") as ws:
        await until_connected(ws)
        async with server.client() as client:
            await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    "12 weeks from 1 March 2025, no replenishment, nothing held back",
                    "CAT777",
                    session_id="error-session",
                    background=True,
                ),
            )
        messages = await read_until(ws, "complete", "error")
    error = messages[-1]
    assert error["type"] == "error", f"expected an error message, got {error}"
    assert (error["error"]["type"], error["status_code"]) == (
        "DataNotFoundError",
        404,
    ), f"expected a 404 DataNotFoundError, got {error}"
    assert error["error"]["step"] == "context", f"got {error}"
    failed = [m for m in messages if m.get("status") == "failed"]
    assert [m["agent"] for m in failed] == ["context"], f"got {failed}"


async def test_multiple_concurrent_connections(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """Three clients of one session are counted, all see the run complete, and the
    count returns to 0 once they close."""
    manager = server.connections
    session_id = "shared-session"
    streams = [server.stream(session_id) for _ in range(3)]
    sockets = [await stream.__aenter__() for stream in streams]
    try:
        for ws in sockets:
            await until_connected(ws)
        assert manager.connection_count == 3, (
            f"expected 3 connections, got {manager.connection_count}"
        )
        assert manager.session_count(session_id) == 3, "expected 3 on the session"
        async with server.client() as client:
            response = await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["luxury"].description, session_id=session_id
                ),
            )
        assert response.status_code == 200, f"expected 200, got {response.text}"
        endings = await asyncio.gather(
            *(read_until(ws, "complete", "error") for ws in sockets)
        )
        last = [messages[-1]["type"] for messages in endings]
        assert last == ["complete"] * 3, f"expected three completes, got {last}"
    finally:
        for stream in streams:
            await stream.__aexit__(None, None, None)
    await wait_until(
        lambda: manager.connection_count == 0,
        message=f"expected 0 connections after close, got {manager.connection_count}",
    )
    assert manager.session_count(session_id) == 0, "expected the session forgotten"


async def test_abandoned_connection_is_dropped(server: SeasonServer) -> None:
    """A client that vanishes without a closing handshake is dropped too."""
    manager = server.connections
    async with server.stream("abandoned") as ws:
        await until_connected(ws)
        assert manager.connection_count == 1, f"got {manager.connection_count}"
        ws.transport.abort()
    await wait_until(lambda: manager.connection_count == 0, message="not dropped")


async def test_streams_are_per_tenant(serve, scenarios: dict[str, Scenario]) -> None:
    """With API keys, a socket needs its tenant's key, and another tenant on the same
    session id sees nothing of the run."""
    keys = {"acme": "key-acme-0123456789", "globex": "key-globex-0123456789"}
    server = await serve(api_keys=",".join(f"{t}:{k}" for t, k in keys.items()))
    with pytest.raises(InvalidStatus) as refused:
        async with server.stream("tenant-session"):
            pass
    assert refused.value.response.status_code == 401, f"got {refused.value.response}"
    async with (
        server.stream("tenant-session", keys["acme"]) as acme,
        server.stream("tenant-session", keys["globex"]) as globex,
    ):
        await until_connected(acme)
        await until_connected(globex)
        async with server.client(keys["acme"]) as client:
            response = await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["zara_style"].description, session_id="tenant-session"
                ),
            )
        assert response.status_code == 200, f"got {response.text}"
        messages = await read_until(acme, "complete")
        run_id = response.json()["run_id"]
        assert messages[-1]["run_id"] == run_id, f"expected {run_id}: {messages[-1]}"
        await assert_silent(globex, 0.3)
        async with server.client(keys["globex"]) as other:
            run_id = response.json()["run_id"]
            found = await other.get(f"/api/orchestrator/runs/{run_id}")
        assert found.status_code == 404, f"expected 404 for globex, got {found.text}"


async def test_origin_is_checked(server: SeasonServer) -> None:
    """A browser page from another origin cannot open the stream."""
    url = server.live.ws_url("/ws/orchestrator/x")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, origin="http://evil.example", ping_interval=None):
            pass
    assert refused.value.response.status_code == 403, f"got {refused.value.response}"


async def test_slow_client_is_dropped(serve, scenarios: dict[str, Scenario]) -> None:
    """A client that falls more than the queue limit behind gets an error message
    and is closed with 1013, and no longer counted."""
    server = await serve(max_ws_queue=1)
    manager = server.connections
    async with server.stream("slow-session") as ws:
        await until_connected(ws)
        async with server.client() as client:
            await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["zara_style"].description, session_id="slow-session"
                ),
            )
        messages = await read_to_close(ws)
        assert ws.close_code == 1013, f"expected close 1013, got {ws.close_code}"
    errors = [m for m in messages if m["type"] == "error"]
    assert errors and errors[-1]["error"]["type"] == "SlowConsumerError", (
        f"expected a SlowConsumerError message, got {messages}"
    )
    await wait_until(lambda: manager.connection_count == 0, message="not dropped")


async def test_stream_handshake_and_chatter(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """An overlong session id is refused with 422; what a client says on the stream
    is ignored and does not disturb it."""
    with pytest.raises(InvalidStatus) as refused:
        async with server.stream("s" * 201):
            pass
    assert refused.value.response.status_code == 422, f"got {refused.value.response}"
    async with server.stream("chatty") as ws:
        await until_connected(ws)
        await ws.send("hello?")
        async with server.client() as client:
            await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["zara_style"].description, session_id="chatty"
                ),
            )
        messages = await read_until(ws, "complete", "error")
    assert messages[-1]["type"] == "complete", f"got {messages[-1]}"


class BrokenSocket:
    """A WebSocket whose peer is gone: every send fails."""

    async def send_text(self, text: str) -> None:
        raise RuntimeError("Unexpected ASGI message 'websocket.send'")


async def test_connection_that_cannot_send_is_dropped(server: SeasonServer) -> None:
    """A connection whose send fails is dropped from the count at once."""
    manager = server.connections
    connection = Connection(BrokenSocket(), "gone", "default")  # type: ignore[arg-type]
    manager._add(connection)
    assert manager.connection_count == 1, f"got {manager.connection_count}"
    sent = await manager.send(connection, {"type": "progress"})
    assert sent is False, f"expected the send to fail, got {sent}"
    assert manager.connection_count == 0, f"got {manager.connection_count}"
    assert connection.closed.is_set(), "expected the connection marked closed"
    manager._drop(connection)  # dropping twice is harmless
