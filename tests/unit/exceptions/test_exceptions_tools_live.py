"""Tool adapters against the fake services on a real uvicorn server: one effect per
idempotency key, injected faults classified, and the fake's own contract."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest
from exceptions_support import ExceptionFactory

from conveyor.policies import RetryPolicy
from conveyor_apps.exceptions import (
    Category,
    PermanentToolError,
    PlaybookStep,
    Severity,
    Toolbox,
    ToolName,
    ToolRequest,
    ToolSettings,
    TransientToolError,
    Triage,
)
from conveyor_apps.exceptions.fakes import FakeServer, create_app

TRIAGED = Triage(category=Category.LOGISTICS, severity=Severity.CRITICAL)


def _request(
    exception_for: ExceptionFactory, tool: ToolName, exception_id: str = "exc-1"
) -> ToolRequest:
    exception = exception_for(external_ref="pallet-7", attributes={"job_id": "j-7"})
    return ToolRequest.for_step(
        exception_id, exception, TRIAGED, PlaybookStep(tool=tool)
    )


async def test_each_tool_has_its_effect(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """Every adapter reaches its endpoint and the fake records one execution each."""
    for index, tool in enumerate(ToolName):
        result = await live_toolbox[tool](
            _request(exception_for, tool), idempotency_key=f"run-1:{index}"
        )
        assert result.external_id == f"{tool.value}-{index + 1:06d}", result
        assert not result.replayed
    executions = fake_server.services.executions
    assert [e.tool for e in executions] == list(ToolName)
    quarantine = fake_server.services.executions_of(ToolName.QUARANTINE)[0]
    assert quarantine.params == {"target": "pallet-7"}, quarantine.params


async def test_duplicate_call_has_one_effect(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """Calls repeated under one key, even concurrently, execute once and replay."""
    request = _request(exception_for, ToolName.OPEN_TICKET)
    results = await asyncio.gather(
        *(
            live_toolbox.open_ticket(request, idempotency_key="run-2:1")
            for _ in range(5)
        )
    )
    assert len({r.external_id for r in results}) == 1, results
    assert sorted(r.replayed for r in results) == [False] + [True] * 4
    assert len(fake_server.services.executions) == 1
    assert fake_server.services.requests == 5


async def test_key_reused_for_another_request_is_a_conflict(
    live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """Reusing a key for a different request is refused (409, permanent)."""
    await live_toolbox.notify(
        _request(exception_for, ToolName.NOTIFY, "exc-1"), idempotency_key="k"
    )
    with pytest.raises(PermanentToolError) as caught:
        await live_toolbox.notify(
            _request(exception_for, ToolName.NOTIFY, "exc-2"), idempotency_key="k"
        )
    assert caught.value.status_code == 409, caught.value


async def test_transient_faults_then_success_under_one_key(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """Two 503s are transient; the third attempt with the same key succeeds once."""
    fake_server.services.fail_next(2, status_code=503, tool=ToolName.RETRY_JOB)
    request = _request(exception_for, ToolName.RETRY_JOB)
    policy = RetryPolicy()
    for _ in range(2):
        with pytest.raises(TransientToolError) as caught:
            await live_toolbox.retry_job(request, idempotency_key="run-3:1")
        assert policy.is_retryable(caught.value), "a 503 must be retried"
    result = await live_toolbox.retry_job(request, idempotency_key="run-3:1")
    assert not result.replayed, "the faults had no effect, so this is the first"
    assert len(fake_server.services.executions) == 1


async def test_permanent_fault_until_healed(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """An always-400 fake fails permanently until healed; then the call works."""
    fake_server.services.fail_always(status_code=400)
    request = _request(exception_for, ToolName.NOTIFY)
    for _ in range(2):
        with pytest.raises(PermanentToolError) as caught:
            await live_toolbox.notify(request, idempotency_key="run-4:1")
        assert not RetryPolicy().is_retryable(caught.value), "a 400 must not retry"
    fake_server.services.heal()
    await live_toolbox.notify(request, idempotency_key="run-4:1")
    assert len(fake_server.services.executions) == 1


async def test_faults_target_one_tool(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """A fault aimed at one tool leaves the others alone."""
    fake_server.services.fail_always(status_code=500, tool=ToolName.QUARANTINE)
    await live_toolbox.notify(
        _request(exception_for, ToolName.NOTIFY), idempotency_key="k1"
    )
    with pytest.raises(TransientToolError):
        await live_toolbox.quarantine(
            _request(exception_for, ToolName.QUARANTINE), idempotency_key="k2"
        )


async def test_timeout_is_transient_and_the_retry_replays(
    fake_server: FakeServer, exception_for: ExceptionFactory
) -> None:
    """A call that times out is transient; its retry finds the effect done once."""
    fake_server.services.stall_next(1, delay_s=0.5)
    settings = ToolSettings(base_url=fake_server.url, timeout_s=0.1)
    request = _request(exception_for, ToolName.OPEN_TICKET)
    async with Toolbox(settings) as box:
        with pytest.raises(TransientToolError, match="timed out"):
            await box.open_ticket(request, idempotency_key="run-5:1")
        await fake_server.services.wait_for_executions(1)  # the stalled call ends
        result = await box.open_ticket(request, idempotency_key="run-5:1")
    assert result.replayed, "the retry must replay the stalled call's effect"
    assert len(fake_server.services.executions) == 1


async def test_unreachable_service_is_transient(
    exception_for: ExceptionFactory,
) -> None:
    """A refused connection (nothing listening) is transient."""
    with socket.socket() as probe:  # a free port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    async with Toolbox(ToolSettings(base_url=url, timeout_s=2.0)) as box:
        with pytest.raises(TransientToolError):
            await box.notify(
                _request(exception_for, ToolName.NOTIFY), idempotency_key="k"
            )


async def test_fake_refuses_calls_without_key_or_valid_body(
    fake_server: FakeServer, exception_for: ExceptionFactory
) -> None:
    """The fake enforces the contract: a key, a valid body, the right endpoint."""
    body = _request(exception_for, ToolName.NOTIFY).model_dump(mode="json")
    async with httpx.AsyncClient(base_url=fake_server.url) as client:
        no_key = await client.post("/notifications", json=body)
        bad_body = await client.post(
            "/notifications", json={"tool": "notify"}, headers={"Idempotency-Key": "k"}
        )
        wrong_place = await client.post(
            "/tickets", json=body, headers={"Idempotency-Key": "k"}
        )
    assert no_key.status_code == 400, no_key.text
    assert "Idempotency-Key" in no_key.json()["detail"], no_key.text
    assert bad_body.status_code == 422, bad_body.text
    assert wrong_place.status_code == 422, wrong_place.text
    assert fake_server.services.executions == []


async def test_fake_is_controlled_over_http(
    fake_server: FakeServer, live_toolbox: Toolbox, exception_for: ExceptionFactory
) -> None:
    """Faults, executions, stats and reset are reachable under /_fake/."""
    async with httpx.AsyncClient(base_url=fake_server.url) as control:
        added = await control.post("/_fake/faults", json={"count": 1, "tool": "notify"})
        assert added.status_code == 201, added.text
        with pytest.raises(TransientToolError):
            await live_toolbox.notify(
                _request(exception_for, ToolName.NOTIFY), idempotency_key="k"
            )
        await live_toolbox.notify(
            _request(exception_for, ToolName.NOTIFY), idempotency_key="k"
        )
        executions = (await control.get("/_fake/executions")).json()
        stats = (await control.get("/_fake/stats")).json()
        refused = await control.post("/_fake/faults", json={"count": 0})
        await control.post("/_fake/faults", json={"count": None, "status_code": 400})
        healed = await control.delete("/_fake/faults")
        reset = await control.post("/_fake/reset")
    assert [e["idempotency_key"] for e in executions] == ["k"], executions
    assert stats == {"requests": 2, "executions": 1}, stats
    assert refused.status_code == 422, refused.text
    assert healed.json() == {"faults": 0}, healed.text
    assert reset.status_code == 200, reset.text
    assert fake_server.services.executions == [] and fake_server.services.requests == 0


async def test_waiting_for_executions_times_out(fake_server: FakeServer) -> None:
    """Waiting for executions that never come raises TimeoutError."""
    with pytest.raises(TimeoutError):
        await fake_server.services.wait_for_executions(1, timeout_s=0.05)


async def test_server_that_cannot_start_raises() -> None:
    """A server whose socket is unusable reports the error from `start`."""
    server = FakeServer()
    server._sock.close()
    with pytest.raises(OSError, match="Bad file descriptor"):
        await server.start()


async def test_stopping_an_unstarted_server_releases_the_port() -> None:
    """`aclose` without `start` just closes the bound socket."""
    server = FakeServer()
    await server.aclose()
    assert server._sock.fileno() == -1, "the socket must be closed"


def test_factory_builds_a_fresh_app() -> None:
    """`create_app` (for `uvicorn --factory`) serves every tool endpoint."""
    paths = {getattr(route, "path", "") for route in create_app().routes}
    for path in ("/notifications", "/jobs/retries", "/tickets", "/quarantines"):
        assert path in paths, f"{path} missing from {sorted(paths)}"
