"""The toolbox bounds the calls in flight (they wait in the toolbox, not in the
HTTP pool) and keeps httpcore's per-lock sniffio import from searching sys.path."""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import sys

import httpx
import pytest
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
from conveyor_apps.exceptions import tools as tools_module

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


def test_missing_sniffio_is_remembered(monkeypatch: pytest.MonkeyPatch) -> None:
    """When sniffio is not installed, it is recorded as missing, so `import
    sniffio` fails at once instead of searching sys.path again."""
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    tools_module._cache_missing_sniffio()
    assert "sniffio" in sys.modules and sys.modules["sniffio"] is None, (
        "expected sniffio recorded as missing"
    )
    with pytest.raises(ImportError):
        import sniffio  # noqa: F401


def test_installed_sniffio_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """When sniffio can be imported, nothing is recorded in its place."""
    monkeypatch.delitem(sys.modules, "sniffio", raising=False)
    spec = importlib.machinery.ModuleSpec("sniffio", None)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: spec)
    tools_module._cache_missing_sniffio()
    assert "sniffio" not in sys.modules, "an installed sniffio must stay importable"
