"""The app run by the worker processes of the distributed tests.

Steps log every call to `CALLS_FILE` (one line per call, written atomically) and
make their side effect through the idempotency key the engine hands them, into an
`effects` table with a unique key: the side effect happens once however often the
step runs.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import asyncpg

from conveyor import Conveyor, StepContext, workflow

CALLS_FILE = os.environ.get("TEST_CALLS_FILE", "calls.log")


def log_call(**fields: Any) -> None:
    """Append one call record (O_APPEND: lines from many processes never mix)."""
    line = json.dumps({"pid": os.getpid(), **fields}) + "\n"
    fd = os.open(CALLS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def calls(path: str | None = None) -> list[dict[str, Any]]:
    """Every call logged so far (in `path`, default `CALLS_FILE`)."""
    try:
        with open(path or CALLS_FILE) as file:
            return [json.loads(line) for line in file if line.strip()]
    except FileNotFoundError:
        return []


async def prepare(ctx: StepContext, order: str) -> str:
    log_call(step="prepare", key=ctx.idempotency_key)
    return order


async def charge(ctx: StepContext, order: str) -> str:
    """Charge once per idempotency key; the first attempt hangs (to be killed)."""
    first = not any(c.get("key") == ctx.idempotency_key for c in calls())
    log_call(step="charge", key=ctx.idempotency_key)
    if first and order.startswith("hang"):
        await asyncio.sleep(60)
    dsn = os.environ["CONVEYOR_STORE_URL"]
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS effects (key TEXT PRIMARY KEY, order_id TEXT)"
        )
        await conn.execute(
            "INSERT INTO effects VALUES ($1, $2) ON CONFLICT DO NOTHING",
            ctx.idempotency_key,
            order,
        )
    finally:
        await conn.close()
    return f"charged {order}"


@workflow
async def checkout(run: Any, order: str) -> str:
    await run.step(prepare, order)
    return str(await run.step(charge, order))


async def ordered_work(data: dict[str, Any]) -> int:
    log_call(step="start", k=data["key"], n=data["n"])
    await asyncio.sleep(0.01)
    log_call(step="end", k=data["key"], n=data["n"])
    return int(data["n"])


@workflow
async def keyed(run: Any, data: dict[str, Any]) -> int:
    return int(await run.step(ordered_work, data))


async def slow_work(n: int) -> int:
    log_call(step="start", n=n)
    await asyncio.sleep(0.2)
    log_call(step="end", n=n)
    return n


@workflow
async def slow(run: Any, n: int) -> int:
    return int(await run.step(slow_work, n))


@workflow
async def family(run: Any, n: int) -> int:
    """Waits on three children at once, then sleeps durably."""
    results = await run.gather(*(run.child(slow, 10 * n + i) for i in range(3)))
    await run.sleep(0.1)
    return sum(results)


@workflow
async def broken(run: Any, n: int) -> int:
    """Holds its lease a moment, then fails."""
    log_call(step="start", n=n)
    await asyncio.sleep(0.2)
    log_call(step="end", n=n)
    raise ValueError(f"broken {n}")


def make_app() -> Conveyor:
    """The worker's app (settings from CONVEYOR_* variables)."""
    return Conveyor(workflows=[checkout, keyed, slow, family, broken])
