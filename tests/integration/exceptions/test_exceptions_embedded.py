"""The exception platform in embedded mode (one process, SQLite), as `conveyor
serve` runs it: the API's validation, listing, policies, outcomes, metrics and the
trace that links one exception's chain."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from exceptions_cluster import DONE, headers, report
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)

from conveyor import Conveyor, Settings
from conveyor.store.base import RunQuery
from conveyor.testing import LocalServer, wait_until
from conveyor_apps.exceptions import ToolSettings
from conveyor_apps.exceptions.config import ExceptionsSettings
from conveyor_apps.exceptions.fakes import FakeServer
from conveyor_apps.exceptions.mount import create_exceptions_app
from conveyor_apps.exceptions.platform import ExceptionPlatform

SPANS = InMemorySpanExporter()


@pytest.fixture(name="spans", scope="module")
def fixture_spans() -> InMemorySpanExporter:
    """Finished spans of this process (the SDK is installed once)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(SPANS))
        trace.set_tracer_provider(provider)
    return SPANS


class Embedded:
    """An embedded engine with the platform, served on a loopback port."""

    def __init__(self, client: httpx.AsyncClient, platform: ExceptionPlatform) -> None:
        self.client = client
        self.platform = platform

    async def settled(self, tenant: str, exception_id: str) -> dict[str, Any]:
        """The exception once its events all ended."""

        async def done() -> dict[str, Any] | None:
            body: dict[str, Any] = (
                await self.client.get(
                    f"/exceptions/{exception_id}", headers=headers(tenant)
                )
            ).json()
            events = body.get("events") or []
            finished = events and all(e["status"] in DONE for e in events)
            return body if finished and not body["pending_events"] else None

        found: dict[str, Any] = await wait_until(done, timeout=30, interval_s=0.02)
        return found


@pytest.fixture(name="lanes")
def fixture_lanes() -> int:
    """`EXCEPTIONS_TENANT_LANES` of the embedded platform (0: none)."""
    return 0


@pytest.fixture(name="submit_rate")
def fixture_submit_rate() -> float | None:
    """`CONVEYOR_TENANT_SUBMIT_RATE` of the embedded engine (None: no limit;
    submissions over it are refused at once)."""
    return None


@pytest.fixture(name="embedded")
async def fixture_embedded(
    tmp_path: Path, lanes: int, submit_rate: float | None
) -> AsyncIterator[Embedded]:
    """`conveyor serve`'s setup: SQLite store, in-process runner, the fakes."""
    async with FakeServer() as fake:
        settings = Settings(
            store_url=f"sqlite:///{tmp_path}/c.db",
            tenant_submit_rate=submit_rate,
            tenant_submit_wait_s=0,
        )
        conveyor = Conveyor(settings=settings)
        app = create_exceptions_app(
            conveyor,
            exceptions_settings=ExceptionsSettings(tenant_lanes=lanes),
            tool_settings=ToolSettings(base_url=fake.url, timeout_s=5),
        )
        async with (
            LocalServer(app, lifespan="on") as server,
            httpx.AsyncClient(base_url=server.url) as client,
        ):
            yield Embedded(client, app.state.exceptions)


async def test_embedded_report_validation(embedded: Embedded) -> None:
    """Reports are checked before they are accepted: no key is 401, a bad field is
    422 naming it, an oversized body is 413, and tables live beside the store."""
    client = embedded.client
    missing = await client.post("/exceptions", json=report(1))
    assert missing.status_code == 401, f"expected 401, got {missing.status_code}"
    wrong = await client.post(
        "/exceptions", json=report(1), headers={"X-API-Key": "nope"}
    )
    assert wrong.status_code == 401, f"expected 401, got {wrong.status_code}"
    bad = await client.post(
        "/exceptions", json=report(1, occurred_at="yesterday"), headers=headers("acme")
    )
    assert bad.status_code == 422, f"expected 422, got {bad.status_code}"
    assert bad.json()["details"][0]["field"] == "occurred_at", bad.json()
    junk = await client.post(
        "/exceptions", content=b"{not json", headers=headers("acme")
    )
    assert junk.status_code == 422, f"expected 422, got {junk.status_code}"
    huge = report(
        1, message="x" * 3000, attributes={f"a{i}": "y" * 1000 for i in range(30)}
    )
    big = await client.post(
        "/exceptions", content=str(huge).encode() * 3, headers=headers("acme")
    )
    assert big.status_code == 413, f"expected 413, got {big.status_code}"
    unknown = await client.get("/exceptions/ex_nothing", headers=headers("acme"))
    assert unknown.status_code == 404, f"expected 404, got {unknown.status_code}"
    assert embedded.platform.repository.url.endswith("c-exceptions.db")


async def test_embedded_outcomes_listing_and_metrics(embedded: Embedded) -> None:
    """In one process, each tenant's policy decides the outcome (remediated,
    notified, waiting for approval); listings filter and page; `/metrics` counts
    every stage."""
    client = embedded.client
    resolved = (
        await client.post("/exceptions", json=report(1), headers=headers("acme"))
    ).json()["exception_id"]
    waiting = (
        await client.post("/exceptions", json=report(2), headers=headers("initech"))
    ).json()["exception_id"]
    low = report(3, kind="gateway_slow", message="Gateway 3 timed out")  # low
    notified = (
        await client.post("/exceptions", json=low, headers=headers("initech"))
    ).json()["exception_id"]
    assert (await embedded.settled("acme", resolved))["status"] == "resolved"
    found = await embedded.settled("initech", waiting)
    assert found["status"] == "needs_approval", found["status"]
    tools = [t["tool"] for t in found["events"][0]["tools"]]
    assert tools == ["notify"], f"expected an approval request only, got {tools}"
    assert (await embedded.settled("initech", notified))["status"] == "notified"
    page = (await client.get("/exceptions?limit=1", headers=headers("initech"))).json()
    assert len(page["items"]) == 1 and page["next_cursor"], page
    rest = (
        await client.get(
            f"/exceptions?limit=1&cursor={page['next_cursor']}",
            headers=headers("initech"),
        )
    ).json()
    both = {page["items"][0]["exception_id"], rest["items"][0]["exception_id"]}
    assert both == {waiting, notified}, f"expected both pages to cover {both}"
    filtered = (
        await client.get(
            "/exceptions?status=needs_approval", headers=headers("initech")
        )
    ).json()
    assert [i["exception_id"] for i in filtered["items"]] == [waiting], filtered
    await embedded.platform.telemetry.refresh()
    metrics = (await client.get("/metrics")).text
    for stage in ("intake", "triage", "policy", "playbook", "tool"):
        line = f'exceptions_stage_processed_total{{stage="{stage}"}} 3.0'
        assert line in metrics, f"expected {line!r} in the metrics"
    assert "exceptions_stage_latency_seconds_bucket" in metrics
    assert "exceptions_dead_letters 0.0" in metrics


async def test_embedded_policy_endpoints(embedded: Embedded) -> None:
    """A tenant reads its policy (the catalog's at version 0), replaces it with a
    valid one (version 1, then 2) and the next events follow it; an invalid
    policy is refused with 422."""
    client = embedded.client
    shown = (await client.get("/tenants/acme/policy", headers=headers("acme"))).json()
    assert (
        shown["version"] == 0 and shown["policy"]["default_action"] == "auto_remediate"
    )
    invalid = await client.put(
        "/tenants/acme/policy",
        json={"default_action": "whatever"},
        headers=headers("acme"),
    )
    assert invalid.status_code == 422, f"expected 422, got {invalid.status_code}"
    for version in (1, 2):
        answer = await client.put(
            "/tenants/acme/policy",
            json={"default_action": "notify_only", "rules": []},
            headers=headers("acme"),
        )
        assert answer.json()["version"] == version, answer.json()
    accepted = (
        await client.post("/exceptions", json=report(9), headers=headers("acme"))
    ).json()
    found = await embedded.settled("acme", accepted["exception_id"])
    assert found["status"] == "notified", (
        f"the new policy applies, got {found['status']}"
    )
    policy = next(s for s in found["events"][0]["stages"] if s["stage"] == "policy")
    assert policy["result"]["policy_version"] == 2, policy


async def test_embedded_trace_links_the_chain(
    embedded: Embedded, spans: InMemorySpanExporter
) -> None:
    """One exception's ingest and its five stages are spans of one trace, each
    stage the child of the one before."""
    spans.clear()
    accepted = (
        await embedded.client.post(
            "/exceptions", json=report(5), headers=headers("acme")
        )
    ).json()
    await embedded.settled("acme", accepted["exception_id"])
    mine = [
        s for s in spans.get_finished_spans()
        if (s.attributes or {}).get("exception.id") == accepted["exception_id"]
    ]  # fmt: skip
    names = [s.name for s in sorted(mine, key=lambda s: s.start_time or 0)]
    assert names == [
        "exceptions.ingest", "exceptions.intake", "exceptions.triage",
        "exceptions.policy", "exceptions.playbook", "exceptions.tool",
    ], f"expected the chain's spans in order, got {names}"  # fmt: skip
    assert len({s.context.trace_id for s in mine if s.context}) == 1, "one trace"
    by_name = {s.name: s for s in mine}
    chain = list(names)
    for parent, child in itertools.pairwise(chain):
        linked = by_name[child].parent
        assert linked is not None and by_name[parent].context is not None
        assert linked.span_id == by_name[parent].context.span_id, (
            f"expected {child} to be the child of {parent}"
        )


@pytest.mark.parametrize("lanes", [2])
async def test_embedded_tenant_lanes(embedded: Embedded, lanes: int) -> None:
    """With tenant lanes, a tenant's events share a few keys per stage (so a
    flooding tenant has at most that many events in each stage at once) and every
    exception still completes, its events in order."""
    client = embedded.client
    ids = [
        (
            await client.post("/exceptions", json=report(n), headers=headers("acme"))
        ).json()["exception_id"]
        for n in range(6)
    ]
    await client.post(
        f"/exceptions/{ids[0]}/events",
        json={"message": "again"},
        headers=headers("acme"),
    )
    for exception_id in ids[1:]:
        assert (await embedded.settled("acme", exception_id))["status"] == "resolved"
    found = await embedded.settled("acme", ids[0])
    assert [e["seq"] for e in found["events"]] == [1, 2], found["events"]
    runs = await embedded.platform.conveyor.list_runs(
        RunQuery(tenant="acme", workflow="exceptions.triage", limit=100)
    )
    keys = {run.key for run in runs}
    assert keys <= {"triage:lane0", "triage:lane1"}, f"expected 2 lanes, got {keys}"
    assert {run.session_id for run in runs} == set(ids), "runs report to the exception"


@pytest.mark.parametrize("submit_rate", [0.5])
async def test_embedded_submission_rate(embedded: Embedded) -> None:
    """Beyond its submission rate a tenant's reports and events answer 429 with
    `Retry-After`, and nothing of them is stored; other tenants go on."""
    client = embedded.client
    accepted = await client.post("/exceptions", json=report(1), headers=headers("acme"))
    assert accepted.status_code == 202, accepted.text
    exception_id = accepted.json()["exception_id"]
    refused = await client.post("/exceptions", json=report(2), headers=headers("acme"))
    assert refused.status_code == 429, refused.text
    assert refused.headers["retry-after"] == "2", refused.headers
    body = refused.json()
    assert body["error"] == "RateLimitedError" and body["details"]["tenant"] == "acme"
    update = await client.post(
        f"/exceptions/{exception_id}/events",
        json={"message": "again"},
        headers=headers("acme"),
    )
    assert update.status_code == 429, update.text
    other = await client.post("/exceptions", json=report(3), headers=headers("globex"))
    assert other.status_code == 202, other.text
    await embedded.settled("acme", exception_id)
    listed = await client.get("/exceptions", headers=headers("acme"))
    assert [e["exception_id"] for e in listed.json()["items"]] == [exception_id]
    found = await client.get(f"/exceptions/{exception_id}", headers=headers("acme"))
    assert len(found.json()["events"]) == 1, "the refused event was not stored"
