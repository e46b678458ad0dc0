"""`ConveyorClient.follow` over a real WebSocket: it resumes a dropped stream from
the last seq it saw, gives up after a few failed reconnects, and reports a refused
handshake as a `ClientError`."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import pytest
import pytest_asyncio
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

from conveyor.client import ClientError, ConveyorClient, ServerUnreachableError

Behaviour = Callable[[ServerConnection, int, int], Awaitable[None]]


def event(seq: int) -> str:
    """The wire form of event `seq` of run r1."""
    return json.dumps(
        {
            "seq": seq,
            "type": "run.completed" if seq == 5 else "step.completed",
            "timestamp": 1.0,
            "tenant": "default",
            "session_id": None,
            "run_id": "r1",
            "workflow": "demo",
            "step": "s",
            "attempt": 1,
            "data": {},
        }
    )


class FakeStream:
    """A WebSocket endpoint whose n-th connection behaves as the test says."""

    def __init__(self) -> None:
        self.afters: list[int] = []
        self.behaviours: list[Behaviour] = []
        self.server: Server | None = None

    async def handle(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        query = parse_qs(urlsplit(ws.request.path).query)
        after = int(query.get("after", ["0"])[0])
        attempt = len(self.afters)
        self.afters.append(after)
        behaviour = self.behaviours[min(attempt, len(self.behaviours) - 1)]
        await behaviour(ws, after, attempt)

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = next(iter(self.server.sockets)).getsockname()[:2]
        return f"http://{host}:{port}"


def refuse_unknown_runs(ws: ServerConnection, request: Request) -> Response | None:
    """Answer the handshake for run "missing" with a JSON 404, like the API."""
    if "/v1/runs/missing/" not in request.path:
        return None
    body = json.dumps(
        {
            "error": "RunNotFoundError",
            "message": "run 'missing' not found",
            "request_id": "req-ws",
            "details": None,
        }
    ).encode()
    headers = Headers([("Content-Type", "application/json")])
    return Response(HTTPStatus.NOT_FOUND, "Not Found", headers, body)


@pytest_asyncio.fixture(name="stream")
async def fake_stream() -> AsyncIterator[FakeStream]:
    """A fake event stream on a free loopback port."""
    fake = FakeStream()
    async with serve(
        fake.handle, "127.0.0.1", 0, process_request=refuse_unknown_runs
    ) as server:
        fake.server = server
        yield fake


async def send_until(ws: ServerConnection, after: int, last: int) -> None:
    for seq in range(after + 1, last + 1):
        await ws.send(event(seq))


async def test_follow_resumes_after_drops_without_gaps_or_repeats(
    stream: FakeStream,
) -> None:
    """An aborted connection and an error close are both resumed from the last seq
    seen; every event arrives exactly once and a normal close ends the stream."""

    async def abort_after_two(ws: ServerConnection, after: int, _: int) -> None:
        await send_until(ws, after, 2)
        ws.transport.abort()

    async def error_close_after_one(ws: ServerConnection, after: int, _: int) -> None:
        # resend an event the client already has: it must be skipped
        await ws.send(event(after))
        await send_until(ws, after, after + 1)
        await ws.close(code=1011, reason="internal error")

    async def finish(ws: ServerConnection, after: int, _: int) -> None:
        await send_until(ws, after, 5)
        await ws.close(code=1000)

    stream.behaviours = [abort_after_two, error_close_after_one, finish]
    async with ConveyorClient(stream.url) as client:
        seqs = [e.seq async for e in client.follow("r1")]
    assert seqs == [1, 2, 3, 4, 5], f"expected each event once, got {seqs}"
    assert stream.afters == [0, 2, 3], f"reconnects resumed from {stream.afters}"


async def test_follow_gives_up_after_max_reconnects(stream: FakeStream) -> None:
    """A stream that keeps ending early raises ServerUnreachableError after
    `max_reconnects` retries in a row, naming the URL and what the server said."""

    async def overflow(ws: ServerConnection, after: int, _: int) -> None:
        notice = {"type": "error", "error": "SlowConsumerError", "message": "behind"}
        await ws.send(json.dumps(notice))
        await ws.close(code=1013)

    stream.behaviours = [overflow]
    async with ConveyorClient(stream.url, max_reconnects=2) as client:
        with pytest.raises(ServerUnreachableError) as caught:
            [e async for e in client.follow("r1")]
    assert len(stream.afters) == 3, f"expected 1 try + 2 retries: {stream.afters}"
    assert stream.url in str(caught.value), f"URL missing from {caught.value}"
    assert "SlowConsumerError: behind" in str(caught.value), f"got {caught.value}"


async def test_refused_handshake_is_a_client_error(stream: FakeStream) -> None:
    """A handshake answered with a JSON 404 raises ClientError with its fields,
    without retrying."""
    async with ConveyorClient(stream.url) as client:
        with pytest.raises(ClientError) as caught:
            [e async for e in client.follow("missing")]
    error = caught.value
    assert (error.status, error.error, error.request_id) == (
        404,
        "RunNotFoundError",
        "req-ws",
    ), f"unexpected translation: {error!r}"
    assert stream.afters == [], "a refused handshake should not be retried"
