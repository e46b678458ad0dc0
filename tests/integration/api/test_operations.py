"""Operations surfaces: health and readiness probes, Prometheus metrics, the
dashboard page, and the app's lifespan owning only the engine it opened."""

from __future__ import annotations

from pathlib import Path

import httpx
from api_support import WORKFLOWS, start_run, wait_for_status
from prometheus_client.parser import text_string_to_metric_families

from conveyor.api import create_app
from conveyor.app import Conveyor
from conveyor.runs import RunStatus
from conveyor.settings import Settings


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Metric samples by (name, sorted labels)."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _asgi_client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )


async def test_health_and_readiness(client):
    """/healthz and /readyz answer 200 while the engine is open."""
    health = await client.get("/healthz")
    assert health.json() == {"status": "ok"}, health.json()
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"}), ready.text


async def test_readiness_fails_while_the_engine_is_closed(tmp_path: Path):
    """/readyz answers 503 with the error body while the engine is not open, and
    /healthz still answers 200."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/closed.db")
    app = create_app(Conveyor(settings=settings), settings)
    async with _asgi_client(app) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 503, f"expected 503, got {ready.status_code}"
        assert ready.json()["error"] == "ServiceUnavailableError", ready.json()
        health = await client.get("/healthz")
        assert health.status_code == 200, f"expected 200, got {health.status_code}"


async def test_lifespan_opens_and_closes_only_its_own_engine(tmp_path: Path):
    """With no engine given, the lifespan builds, opens and closes one; an engine
    that was already open is left open."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/own.db")
    app = create_app(settings=settings)
    engine = app.state.api.conveyor
    async with app.router.lifespan_context(app):
        assert engine.is_open, "expected the lifespan to open the engine"
        async with _asgi_client(app) as client:
            ready = await client.get("/readyz")
            assert ready.status_code == 200, f"expected 200, got {ready.status_code}"
    assert not engine.is_open, "expected the lifespan to close what it opened"

    shared = Conveyor(settings=Settings(store_url=f"sqlite:///{tmp_path}/shared.db"))
    await shared.open()
    try:
        borrowed = create_app(shared)
        async with borrowed.router.lifespan_context(borrowed):
            pass
        assert shared.is_open, "expected an engine opened elsewhere to stay open"
    finally:
        await shared.aclose()


async def test_metrics_count_runs_steps_and_requests(server, client):
    """/metrics exposes run and step counters fed by events, run durations, and
    HTTP requests by route template and status."""
    run_id = await start_run(client, "three_steps", 1)
    await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
    await client.get(f"/v1/runs/{run_id}")
    await client.get("/v1/runs/missing")
    response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain"), response.headers
    samples = _samples(response.text)
    flow = (("workflow", "three_steps"),)
    expected = {
        ("conveyor_runs_total", (("event", "started"), *flow)): 1.0,
        ("conveyor_runs_total", (("event", "completed"), *flow)): 1.0,
        ("conveyor_steps_total", (("outcome", "completed"), *flow)): 3.0,
        ("conveyor_run_duration_seconds_count", flow): 1.0,
        (
            "conveyor_http_requests_total",
            (("method", "POST"), ("route", "/v1/runs"), ("status", "202")),
        ): 1.0,
        (
            "conveyor_http_requests_total",
            (("method", "GET"), ("route", "/v1/runs/{run_id}"), ("status", "200")),
        ): 1.0,
        (
            "conveyor_http_requests_total",
            (("method", "GET"), ("route", "/v1/runs/{run_id}"), ("status", "404")),
        ): 1.0,
    }
    for key, value in expected.items():
        assert samples.get(key) == value, (
            f"expected {key} = {value}, got {samples.get(key)}"
        )


async def test_metrics_registries_are_per_app(tmp_path: Path):
    """Two apps in one process keep separate metrics."""
    settings = Settings(store_url=f"sqlite:///{tmp_path}/a.db")
    first = create_app(Conveyor(settings=settings, workflows=WORKFLOWS))
    second = create_app(Conveyor(settings=settings, workflows=WORKFLOWS))
    async with _asgi_client(first) as one, _asgi_client(second) as two:
        await one.get("/healthz")
        text = (await two.get("/metrics")).text
    assert 'route="/healthz"' not in text, "expected the second app not to count it"


async def test_dashboard_page(client):
    """/ serves the dashboard page with its script, a link to /docs and a strict
    content security policy."""
    page = await client.get("/")
    assert page.status_code == 200, f"expected 200, got {page.status_code}"
    assert page.headers["content-type"].startswith("text/html"), page.headers
    assert 'href="/docs"' in page.text, "expected a link to the API docs"
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy, f"expected a strict policy, got {policy}"
    script = await client.get("/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript"), script.headers
    for needle in ("/v1/runs?limit=", "new WebSocket", "textContent"):
        assert needle in script.text, f"expected {needle!r} in the dashboard script"
    docs = await client.get("/docs")
    assert docs.status_code == 200, f"expected the docs page, got {docs.status_code}"
