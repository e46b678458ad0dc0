"""The toolbox bounds the calls in flight (they wait in the toolbox, not in the
HTTP pool)."""

from __future__ import annotations

import asyncio

import httpx
from exceptions_support import ExceptionFactory

from conveyor_apps.exceptions import (
    Category,
    PlaybookStep,
    Severity,
    Toolbox,
    ToolName,
    ToolRequest,
    ToolSettings,
    Triage,
)

TRIAGED = Triage(category=Category.JOBS, severity=Severity.LOW)


async def test_toolbox_bounds_the_calls_in_flight(
    exception_for: ExceptionFactory,
) -> None:
    """With max_connections=3, ten calls at once reach the service three at a
    time, and every one of them completes."""
    in_flight = 0
    most = 0
    release = asyncio.Event()

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await release.wait()
        in_flight -= 1
        return httpx.Response(201, json={"id": request.headers["Idempotency-Key"]})

    step = PlaybookStep(tool=ToolName.NOTIFY)
    request = ToolRequest.for_step("exc-1", exception_for(), TRIAGED, step)
    settings = ToolSettings(base_url="http://svc", max_connections=3)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        box = Toolbox(settings, client=client)
        calls = [
            asyncio.create_task(box.run(request, idempotency_key=f"k-{n}"))
            for n in range(10)
        ]
        await asyncio.sleep(0.05)
        assert in_flight == 3, f"expected 3 calls at the service, got {in_flight}"
        release.set()
        results = await asyncio.gather(*calls)
    assert most == 3, f"expected at most 3 calls in flight, saw {most}"
    assert sorted(r.external_id for r in results) == sorted(
        f"k-{n}" for n in range(10)
    ), "every call completes once"
