"""Shared pieces of the HTTP API tests: small workflows, a real uvicorn server on a
free loopback port running in the test's event loop, and request helpers."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conveyor import agent, workflow
from conveyor.app import Conveyor
from conveyor.policies import RetryPolicy
from conveyor.runs import RunRecord, RunStatus
from conveyor.testing import LocalServer

KEYS = {"acme": "key-acme-0123456789", "globex": "key-globex-0123456789"}
ADMIN_KEY = "admin-key-0123456789"
NO_RETRY = RetryPolicy(max_attempts=1)


# workflows -------------------------------------------------------------------------
@agent(retry=NO_RETRY)
async def add_one(value: int) -> int:
    """Add one."""
    return value + 1


@agent(retry=NO_RETRY)
async def explode(value: Any) -> None:
    """Always fail."""
    raise RuntimeError(f"exploded on {value!r} in /secret/path.py")


class Greeting(BaseModel):
    """Typed input: `name` is required."""

    name: str
    times: int = 1


@workflow
async def three_steps(run: Any, start: int) -> int:
    """Three checkpointed steps."""
    value = start
    for _ in range(3):
        value = await run.step(add_one, value)
    return value


@workflow
async def greet(run: Any, data: Greeting) -> str:
    """Typed input, no steps."""
    return " ".join([f"hello {data.name}"] * data.times)


@workflow
async def waits_for_go(run: Any, data: Any) -> Any:
    """Publishes its stage, waits for signal `go`, then runs three steps."""
    run.set_query("stage", "waiting")
    payload = await run.wait_for_signal("go")
    run.set_query("stage", "going")
    value = 0
    for _ in range(3):
        value = await run.step(add_one, value)
    return {"payload": payload, "value": value}


@workflow
async def fails(run: Any, data: Any) -> None:
    """One step that fails for good: the run is dead-lettered."""
    await run.step(explode, data)


@workflow
async def chatty(run: Any, data: dict[str, int]) -> int:
    """Waits for `go`, then emits `batches * per_batch` progress events of
    `size` bytes, with a step between batches."""
    await run.wait_for_signal("go")
    batches, per_batch, size = data["batches"], data["per_batch"], data["size"]
    for batch in range(batches):
        for i in range(per_batch):
            run.progress((batch * per_batch + i) / (batches * per_batch), "x" * size)
        await run.step(add_one, batch)
    return batches * per_batch


WORKFLOWS = (three_steps, greet, waits_for_go, fails, chatty)
TERMINAL = {"run.completed", "run.cancelled", "run.dead_lettered"}


# the server ------------------------------------------------------------------------
class LiveServer(LocalServer):
    """The API app on a real loopback port, running as a task of this loop."""

    def __init__(
        self, app: FastAPI, conveyor: Conveyor, send_buffer_bytes: int | None = None
    ) -> None:
        super().__init__(
            app,
            lifespan="on",
            send_buffer_bytes=send_buffer_bytes,
            ws_ping_interval=None,
        )
        self.app = app
        self.conveyor = conveyor

    def client(self, tenant: str | None = "acme", **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client authenticated as `tenant` (None: no key)."""
        headers = dict(kwargs.pop("headers", {}))
        if tenant is not None:
            headers["X-API-Key"] = KEYS[tenant]
        return httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=30, **kwargs
        )


ServerFactory = Callable[..., Awaitable[LiveServer]]


# helpers ---------------------------------------------------------------------------
async def start_run(
    client: httpx.AsyncClient, workflow_name: str, data: Any = None, **fields: Any
) -> str:
    """Start a run over HTTP; its id."""
    response = await client.post(
        "/v1/runs", json={"workflow": workflow_name, "input": data, **fields}
    )
    assert response.status_code == 202, (
        f"expected 202 starting {workflow_name}, got {response.status_code}: "
        f"{response.text}"
    )
    run_id: str = response.json()["run_id"]
    return run_id


async def wait_for_status(
    conveyor: Conveyor, run_id: str, *statuses: RunStatus, timeout_s: float = 10.0
) -> RunRecord:
    """Poll the store until the run is in one of `statuses`."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        run = await conveyor.get_run(run_id)
        if run.status in statuses:
            return run
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"expected run {run_id} to reach {statuses}, it is {run.status}"
            )
        await asyncio.sleep(0.01)


def error_fields(body: Any) -> set[str]:
    """The keys of an error body."""
    return set(body) if isinstance(body, dict) else set()


ERROR_KEYS = {"error", "message", "request_id", "details"}


# streams ---------------------------------------------------------------------------
async def read_ws(
    url: str,
    key: str | None = KEYS["acme"],
    *,
    limit: int | None = None,
    **options: Any,
) -> tuple[list[dict[str, Any]], int | None]:
    """Messages of a WebSocket stream (all, or the first `limit`) and the close code
    (None when this side stopped early or the connection broke)."""
    headers = {"X-API-Key": key} if key is not None else {}
    messages: list[dict[str, Any]] = []
    async with connect(
        url, additional_headers=headers, ping_interval=None, **options
    ) as ws:
        try:
            async for raw in ws:
                messages.append(json.loads(raw))
                if limit is not None and len(messages) >= limit:
                    return messages, None
        except ConnectionClosed:
            pass
        return messages, ws.close_code


async def read_sse(
    client: httpx.AsyncClient,
    path: str,
    *,
    limit: int | None = None,
    headers: dict[str, str] | None = None,
) -> list[dict[str, str]]:
    """SSE frames of `path` as `{id, event, data}` dicts (comments skipped), until the
    stream ends or `limit` frames arrived."""
    frames: list[dict[str, str]] = []
    async with client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200, (
            f"expected 200 for {path}, got {response.status_code}"
        )
        content_type = response.headers["content-type"]
        assert content_type.startswith("text/event-stream"), content_type
        frame: dict[str, str] = {}
        async for line in response.aiter_lines():
            if line.startswith(":"):
                continue
            if line:
                field, _, value = line.partition(": ")
                frame[field] = value
                continue
            if frame:
                frames.append(frame)
                frame = {}
                if limit is not None and len(frames) >= limit:
                    break
    return frames


def seqs(events: list[dict[str, Any]]) -> list[int]:
    """The seq of each event."""
    return [int(event["seq"]) for event in events]
