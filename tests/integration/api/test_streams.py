"""Event streams over a real server: gap-free seqs, resuming over WebSocket and SSE,
100 concurrent clients, a stuck client that must not hold anything up, and session
streams."""

from __future__ import annotations

import asyncio
import json
import socket
import time

import pytest
from api_support import (
    KEYS,
    TERMINAL,
    read_sse,
    read_ws,
    seqs,
    start_run,
    wait_for_status,
)
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conveyor.api import streams
from conveyor.runs import RunStatus
from conveyor.testing import wait_until


async def _stored(server, run_id):
    """Every stored event of the run, in wire form."""
    events: list[dict] = []
    while batch := await server.conveyor.store.read_events(run_id, len(events)):
        events += [event.to_dict() for event in batch]
    return events


async def _metrics(client):
    """The server's metrics text."""
    return (await client.get("/metrics")).text


async def test_event_seq_gap_free_and_resume(server, client):
    """Seqs run 1..N without gaps; a WebSocket client that left after k events and
    comes back with ?after=k, and an SSE client that comes back with Last-Event-ID
    (or ?after=), get exactly the events they missed."""
    run_id = await start_run(client, "waits_for_go")
    await wait_for_status(server.conveyor, run_id, RunStatus.RUNNING)
    url = server.ws_url(f"/v1/runs/{run_id}/ws")
    full = asyncio.create_task(read_ws(url))
    early, code = await read_ws(url, limit=2)
    assert seqs(early) == [1, 2], f"expected seqs 1, 2: {early}"
    assert code is None, f"expected this side to leave early, got close {code}"
    sse_early = await read_sse(client, f"/v1/runs/{run_id}/events", limit=1)
    assert [frame["id"] for frame in sse_early] == ["1"], sse_early
    sse_rest = asyncio.create_task(
        read_sse(client, f"/v1/runs/{run_id}/events", headers={"Last-Event-ID": "1"})
    )
    await client.post(f"/v1/runs/{run_id}/signals/go", json={"payload": 1})
    await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)

    everything, code = await full
    stored = await _stored(server, run_id)
    count = len(stored)
    assert seqs(stored) == list(range(1, count + 1)), f"stored seqs {seqs(stored)}"
    assert everything == stored, "expected the live stream to equal the stored one"
    assert code == 1000, f"expected close 1000 after the terminal event, got {code}"
    assert everything[-1]["type"] == "run.completed", everything[-1]

    rest, code = await read_ws(server.ws_url(f"/v1/runs/{run_id}/ws?after=2"))
    assert rest == stored[2:], f"expected seqs 3..{count}, got {seqs(rest)}"
    assert code == 1000, f"expected close 1000, got {code}"

    frames = await sse_rest
    assert [int(frame["id"]) for frame in frames] == list(range(2, count + 1)), (
        f"expected SSE ids 2..{count}, got {[frame['id'] for frame in frames]}"
    )
    assert [json.loads(frame["data"]) for frame in frames] == stored[1:], (
        "expected each SSE data line to be the stored event"
    )
    types = [frame["event"] for frame in frames]
    assert types == [e["type"] for e in stored[1:]], f"unexpected SSE types {types}"
    tail = await read_sse(client, f"/v1/runs/{run_id}/events?after={count - 2}")
    assert [int(frame["id"]) for frame in tail] == [count - 1, count], tail


async def test_websocket_100_clients_all_events(server, client):
    """100 WebSocket clients subscribed to one run each receive every event, in
    order, then a normal close."""
    run_id = await start_run(client, "waits_for_go")
    url = server.ws_url(f"/v1/runs/{run_id}/ws")
    subscribed = [asyncio.Event() for _ in range(100)]

    async def follow(index: int) -> tuple[list[dict], int | None]:
        events: list[dict] = []
        async with connect(
            url, additional_headers={"X-API-Key": KEYS["acme"]}, ping_interval=None
        ) as ws:
            async for raw in ws:
                events.append(json.loads(raw))
                subscribed[index].set()
            return events, ws.close_code

    clients = [asyncio.create_task(follow(index)) for index in range(100)]
    await asyncio.wait_for(
        asyncio.gather(*(flag.wait() for flag in subscribed)), timeout=30
    )
    await client.post(f"/v1/runs/{run_id}/signals/go", json={})
    results = await asyncio.wait_for(asyncio.gather(*clients), timeout=60)
    stored = await _stored(server, run_id)
    assert stored[-1]["type"] == "run.completed", stored[-1]
    for index, (events, code) in enumerate(results):
        assert events == stored, (
            f"client {index}: expected seqs {seqs(stored)}, got {seqs(events)}"
        )
        assert code == 1000, f"client {index}: expected close 1000, got {code}"


async def test_slow_websocket_client_does_not_block(serve):
    """A client that stops reading overflows its small queue and is disconnected;
    the run finishes promptly and a reading client still gets every event."""
    server = await serve(max_ws_queue=16, send_buffer_bytes=16384)
    async with server.client() as client:
        data = {"batches": 25, "per_batch": 40, "size": 2000}
        run_id = await start_run(client, "chatty", data)
        url = server.ws_url(f"/v1/runs/{run_id}/ws")
        reader = asyncio.create_task(read_ws(url))

        # a tiny receive buffer and a one-frame client queue: the server's writes
        # stall after a few dozen events
        raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        raw.setblocking(False)
        await asyncio.get_running_loop().sock_connect(raw, ("127.0.0.1", server.port))
        async with connect(
            url,
            sock=raw,
            additional_headers={"X-API-Key": KEYS["acme"]},
            ping_interval=None,
            max_queue=1,
            close_timeout=1,
            compression=None,  # deflate would shrink the repetitive events to nothing
        ) as stuck:
            bus = server.conveyor.bus
            await wait_until(
                lambda: bus.subscriber_count == 2, 10, message="both subscribed"
            )
            began = time.monotonic()
            await client.post(f"/v1/runs/{run_id}/signals/go", json={})
            await wait_for_status(
                server.conveyor, run_id, RunStatus.COMPLETED, timeout_s=30
            )
            took = time.monotonic() - began
            assert took < 15, f"expected the run to finish promptly, took {took:.1f} s"

            events, code = await asyncio.wait_for(reader, timeout=30)
            stored = await _stored(server, run_id)
            assert len(stored) > 1000, f"expected > 1000 events, got {len(stored)}"
            assert seqs(events) == seqs(stored), "the reading client missed events"
            assert code == 1000, f"expected close 1000 for the reader, got {code}"

            dropped = (
                'conveyor_stream_slow_consumers_total{kind="ws"} 1.0',
                'conveyor_streams_open{kind="ws"} 0.0',
            )

            async def stuck_client_dropped() -> bool:
                text = await _metrics(client)
                return all(line in text for line in dropped)

            await wait_until(stuck_client_dropped, 10, message="stuck client dropped")
            assert bus.subscriber_count == 0, "expected every subscription closed"

            raw_messages: list[str | bytes] = []
            try:
                async with asyncio.timeout(20):
                    async for message in stuck:
                        raw_messages.append(message)  # noqa: PERF401 - keep what came
            except ConnectionClosed:
                pass
            received = [json.loads(message) for message in raw_messages]
            events_seen = [item for item in received if item.get("type") != "error"]
            assert seqs(events_seen) == list(range(1, len(events_seen) + 1)), (
                "the stuck client should see a gap-free prefix"
            )
            assert len(events_seen) < len(stored), (
                f"expected the stuck client cut off early, it got {len(events_seen)}"
            )
            errors = [item for item in received if item.get("type") == "error"]
            assert all(item["error"] == "SlowConsumerError" for item in errors), errors
            # 1013 when the notice fits in the buffers; else the server drops the
            # connection once its buffered bytes are read (1006)
            assert stuck.close_code in (1013, 1006), (
                f"expected close 1013 or an abort, got {stuck.close_code}"
            )


async def test_session_websocket_streams_only_that_sessions_runs(server, client):
    """A session stream carries the live events of the tenant's runs with that
    session id, and nothing of other sessions or other tenants."""
    url = server.ws_url("/v1/sessions/chat-1/ws")
    async with connect(
        url, additional_headers={"X-API-Key": KEYS["acme"]}, ping_interval=None
    ) as ws:
        bus = server.conveyor.bus
        await wait_until(lambda: bus.subscriber_count == 1, 10, message="subscribed")
        async with server.client("globex") as other:
            foreign = await start_run(other, "three_steps", 1, session_id="chat-1")
        elsewhere = await start_run(client, "three_steps", 1, session_id="chat-2")
        await wait_for_status(server.conveyor, foreign, RunStatus.COMPLETED)
        await wait_for_status(server.conveyor, elsewhere, RunStatus.COMPLETED)
        mine = await start_run(client, "three_steps", 1, session_id="chat-1")
        received: list[dict] = []
        async with asyncio.timeout(10):
            async for raw in ws:
                received.append(json.loads(raw))
                if received[-1]["type"] in TERMINAL:
                    break
    assert {event["run_id"] for event in received} == {mine}, (
        f"expected only run {mine}, got {received}"
    )
    assert seqs(received) == list(range(1, len(received) + 1)), seqs(received)


async def test_sse_sends_keepalive_comments(server, client, monkeypatch):
    """An idle SSE stream sends a comment line every keep-alive interval."""
    monkeypatch.setattr(streams, "KEEPALIVE_S", 0.05)
    run_id = await start_run(client, "waits_for_go")
    await wait_for_status(server.conveyor, run_id, RunStatus.RUNNING)
    lines: list[str] = []
    async with client.stream("GET", f"/v1/runs/{run_id}/events") as response:
        async with asyncio.timeout(10):
            async for line in response.aiter_lines():
                lines.append(line)
                if line == ": keep-alive":
                    break
    assert lines[0] == "id: 1", f"expected the stored events first, got {lines[:3]}"
    assert lines[-1] == ": keep-alive", f"expected a keep-alive comment: {lines}"


async def test_websocket_refuses_a_bad_after(server, client):
    """A WebSocket asking to resume after a non-number is refused with 422."""
    run_id = await start_run(client, "three_steps", 1)
    url = server.ws_url(f"/v1/runs/{run_id}/ws?after=x")
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers={"X-API-Key": KEYS["acme"]}):
            pass
    response = refused.value.response
    assert response.status_code == 422, f"expected 422, got {response.status_code}"
    body = json.loads(response.body)
    assert body["details"][0]["field"] == "query.after", body
