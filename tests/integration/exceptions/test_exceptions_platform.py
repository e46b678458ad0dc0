"""The exception platform end to end, distributed: the API in this process,
`conveyor worker` processes on real PostgreSQL and NATS, the fake tools on a real
port. Every test the spec names is here."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from typing import Any

import pytest
from exceptions_cluster import HERE, Cluster, headers, report

from conveyor.testing import wait_until
from conveyor_apps.exceptions import ToolName

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

STAGES = ["intake", "triage", "policy", "playbook", "tool"]
OF = "session_id"  # every stage run of an exception reports to its session
OF_R = "r.session_id"


def executions_of(cluster: Cluster, exception_id: str) -> list[Any]:
    """The fake's executions for one exception, in the order they happened."""
    return [
        e for e in cluster.fake.services.executions if e.exception_id == exception_id
    ]


async def dead_letter_of(
    cluster: Cluster, tenant: str, exception_id: str
) -> dict[str, Any] | None:
    """The exception's dead letter as the API lists it, once the engine has it
    (the event is parked as dead-lettered just before the engine moves its run)."""
    answer = await cluster.http.get("/exceptions/dead-letters", headers=headers(tenant))
    items: list[dict[str, Any]] = answer.json()["items"]
    return next((x for x in items if x["exception_id"] == exception_id), None)


async def test_post_exception_worker_chain_playbook_tool_exec(cluster: Cluster) -> None:
    """A report is answered 202 at once, then passes Intake → Triage → Policy →
    Playbook → Tool in worker processes; the playbook's tools run once each and
    every execution is recorded with its idempotency key."""
    accepted = await cluster.post("acme", report(1))
    exception_id = accepted["exception_id"]
    assert accepted["status"] == "received" and accepted["created"] is True, (
        f"expected a new received exception, got {accepted}"
    )
    assert accepted["links"]["self"] == f"/exceptions/{exception_id}"
    found = await cluster.settled("acme", exception_id)
    assert found["status"] == "resolved", f"expected resolved, got {found['status']}"
    assert (found["category"], found["severity"]) == ("payments", "high"), found
    event = found["events"][0]
    stages = [s["stage"] for s in event["stages"]]
    assert stages == STAGES, f"expected every stage once in order, got {stages}"
    assert (event["action"], event["playbook"]) == ("auto_remediate", "payments-high")
    tools = [(t["tool"], t["position"]) for t in event["tools"]]
    assert tools == [("retry_job", 0), ("notify", 1)], (
        f"expected the playbook, got {tools}"
    )
    done = executions_of(cluster, exception_id)
    assert [(e.tool.value, e.idempotency_key) for e in done] == [
        (t["tool"], t["idempotency_key"]) for t in event["tools"]
    ], f"expected the recorded executions to be the fake's, got {done}"
    assert done[0].params == {"job_id": "job-1"}, f"retry_job params: {done[0].params}"
    history = [h["what"] for h in found["history"]]
    assert history[0].startswith("event 1 (reported) accepted"), history
    runs = await cluster.sql(
        f"SELECT workflow, status FROM runs WHERE {OF} = $1 ORDER BY submit_seq",
        exception_id,
    )
    assert [tuple(r) for r in runs] == [
        (f"exceptions.{stage}", "completed") for stage in STAGES
    ], f"expected one completed run per stage, got {runs}"


async def test_ordering_per_exception(cluster: Cluster) -> None:
    """Many events for one exception, produced quickly while the worker holding the
    exception stops and others take over: every stage processes the events in the
    order they were produced, and their tools run in that order too."""
    accepted = await cluster.post("acme", report(2))
    exception_id = accepted["exception_id"]
    first = await wait_until(
        lambda: cluster.sql(
            "SELECT worker FROM exception_stage_records WHERE exception_id = $1",
            exception_id,
        ),
        timeout=30,
        message="the first event's intake",
    )
    count = 12
    for n in range(2, count + 1):
        if n == count // 2:  # hand the exception's partition to another worker
            stopping = cluster.worker_of(first[0][0])
            stopping.process.send_signal(signal.SIGTERM)
        answer = await cluster.http.post(
            f"/exceptions/{exception_id}/events",
            json={"message": f"Batch 2 failed again ({n})", "idempotency_key": f"u{n}"},
            headers=headers("acme"),
        )
        assert answer.status_code == 202, f"expected 202, got {answer.status_code}"
    replacement = cluster.start_worker(stopping.stages)
    found = await cluster.settled("acme", exception_id, events=count, timeout=90)
    seqs = [e["seq"] for e in found["events"]]
    assert seqs == list(range(1, count + 1)), f"expected events 1..{count}, got {seqs}"
    for stage in STAGES:
        rows = await cluster.sql(
            "SELECT seq FROM exception_stage_records WHERE exception_id = $1 "
            "AND stage = $2 ORDER BY id",
            exception_id,
            stage,
        )
        order = [r[0] for r in rows]
        assert order == list(range(1, count + 1)), (
            f"{stage}: expected events processed in order 1..{count}, got {order}"
        )
    workers = await cluster.sql(
        "SELECT DISTINCT worker FROM exception_stage_records WHERE exception_id = $1",
        exception_id,
    )
    assert len(workers) >= 4, f"expected several workers to take part, got {workers}"
    seq_of = {
        r[0]: r[1]
        for r in await cluster.sql(
            "SELECT idempotency_key, seq FROM exception_tool_executions "
            "WHERE exception_id = $1",
            exception_id,
        )
    }
    order = [seq_of[e.idempotency_key] for e in executions_of(cluster, exception_id)]
    assert order == sorted(order) and len(order) == 2 * count, (
        f"expected the tools of event 1, then 2, …, got events {order}"
    )
    assert replacement.process.poll() is None, "the replacement worker runs"


async def test_idempotency_duplicate_events(cluster: Cluster) -> None:
    """Duplicates have one effect: the same report sent again (also concurrently),
    an update resent under its idempotency key, and every stage's dispatch
    delivered again all leave one exception row, one event row per event and one
    tool execution per playbook step."""
    body = report(3, idempotency_key="dup-3")
    answers = await asyncio.gather(*(cluster.post("acme", body) for _ in range(4)))
    ids = {a["exception_id"] for a in answers}
    assert len(ids) == 1, f"expected one exception, got {ids}"
    assert sum(a["created"] for a in answers) == 1, f"one creation, got {answers}"
    exception_id = ids.pop()
    update = {"message": "Batch 3 failed twice", "idempotency_key": "again-1"}
    for _ in range(3):
        answer = await cluster.http.post(
            f"/exceptions/{exception_id}/events", json=update, headers=headers("acme")
        )
        assert answer.status_code == 202, answer.text
    found = await cluster.settled("acme", exception_id, events=2)
    assert len(found["events"]) == 2, f"expected 2 events, got {found['events']}"
    assert len(executions_of(cluster, exception_id)) == 4, "2 events × 2 tools"
    assert cluster.api is not None
    runs = await cluster.sql(
        f"SELECT id, tenant, key, workflow FROM runs WHERE {OF} = $1",
        exception_id,
    )
    assert len(runs) == 10, f"expected 5 stage runs per event, got {len(runs)}"
    for run_id, tenant, key, workflow in runs:
        route = {"tenant": tenant, "key": key, "workflow": workflow}
        await cluster.api.bus.dispatch(run_id, route, msg_id=f"dup.{run_id}")  # type: ignore[attr-defined]
    resent = await cluster.post("acme", body)
    assert resent["created"] is False
    # a third event queues behind the redelivered ones (same key, same partition):
    # once it is done, they have had every chance to do harm
    later = {"message": "Batch 3 failed thrice", "idempotency_key": "again-2"}
    answer = await cluster.http.post(
        f"/exceptions/{exception_id}/events", json=later, headers=headers("acme")
    )
    assert answer.status_code == 202, answer.text
    await cluster.settled("acme", exception_id, events=3)
    rows = await cluster.sql(
        "SELECT count(*) FROM exceptions WHERE id = $1", exception_id
    )
    assert rows[0][0] == 1, f"expected one exception row, got {rows[0][0]}"
    events = await cluster.sql(
        "SELECT count(*) FROM exception_events WHERE exception_id = $1", exception_id
    )
    assert events[0][0] == 3, f"expected three event rows, got {events[0][0]}"
    done = executions_of(cluster, exception_id)
    assert len(done) == 6, f"expected 3 events × 2 tools, got {done}"
    recorded = await cluster.sql(
        "SELECT count(*) FROM exception_tool_executions WHERE exception_id = $1",
        exception_id,
    )
    assert recorded[0][0] == 6, f"expected 6 recorded executions, got {recorded[0][0]}"


async def test_retry_dlq_path(cluster: Cluster) -> None:
    """A transient tool failure is retried with backoff and succeeds; a permanent
    one parks the event in the dead letters with its reason, without holding up
    other exceptions; a replay after the fault is gone completes it, each tool
    having run once."""
    fake = cluster.fake.services
    fake.fail_next(2, status_code=503, tool=ToolName.RETRY_JOB)
    transient = (await cluster.post("acme", report(4)))["exception_id"]
    found = await cluster.settled("acme", transient)
    assert found["status"] == "resolved", found["status"]
    retry_job = found["events"][0]["tools"][0]
    assert (retry_job["tool"], retry_job["attempts"]) == ("retry_job", 3), retry_job

    fake.fail_always(status_code=400, tool=ToolName.OPEN_TICKET)
    try:
        stuck = report(5, source="tms", kind="shipment_stuck")  # open_ticket, notify
        poison = (await cluster.post("acme", stuck))["exception_id"]
        other = await cluster.post("acme", report(6))  # retry_job, notify
        found = await cluster.settled("acme", poison)
        assert found["status"] == "dead_lettered", found["status"]
        event = found["events"][0]
        assert event["failed_stage"] == "tool", event
        assert "HTTP 400" in event["error"]["message"], event["error"]
        letter = await wait_until(
            lambda: dead_letter_of(cluster, "acme", poison),
            timeout=30,
            interval_s=0.1,
            message="the poison's dead letter",
        )
        assert letter["stage"] == "tool" and letter["attempts"] == 1, letter
        assert (
            "PermanentToolError" in letter["error"]["type"] + letter["error"]["message"]
        )
        shown = await cluster.http.get(
            f"/exceptions/dead-letters/{letter['id']}", headers=headers("acme")
        )
        assert (
            shown.status_code == 200 and shown.json()["event_id"] == event["event_id"]
        )
        others = await cluster.settled("acme", other["exception_id"])
        assert others["status"] == "resolved", f"the poison held up {others}"
    finally:
        fake.heal()
    replay = await cluster.http.post(
        f"/exceptions/dead-letters/{letter['id']}/replay", headers=headers("acme")
    )
    assert replay.status_code == 202, replay.text
    found = await cluster.settled("acme", poison, ends=frozenset({"resolved"}))
    assert found["status"] == "resolved", (
        f"expected resolved after replay, got {found['status']}"
    )
    tools = [e.tool.value for e in executions_of(cluster, poison)]
    assert tools == ["open_ticket", "notify"], f"expected each tool once, got {tools}"
    again = await cluster.http.post(
        f"/exceptions/dead-letters/{letter['id']}/replay", headers=headers("acme")
    )
    assert again.status_code == 409, (
        f"a second replay: expected 409, got {again.status_code}"
    )
    assert cluster.platform is not None
    await cluster.platform.telemetry.refresh()
    metrics = (await cluster.http.get("/metrics")).text
    assert 'exceptions_stage_failed_total{stage="tool"} 1.0' in metrics, metrics
    assert 'exceptions_stage_retried_total{stage="tool"}' in metrics


async def test_tenant_isolation(cluster: Cluster) -> None:
    """A tenant reads, lists and affects only its own exceptions (another's id is a
    404), sees only its own dead letters and policy, and its policy applies only to
    its own events."""
    mine = (await cluster.post("acme", report(7)))["exception_id"]
    policy = {"default_action": "notify_only", "rules": []}
    changed = await cluster.http.put(
        "/tenants/globex/policy", json=policy, headers=headers("globex")
    )
    assert changed.status_code == 200 and changed.json()["version"] == 1, changed.text
    theirs = (await cluster.post("globex", report(7)))["exception_id"]
    assert theirs != mine, "the same report from two tenants is two exceptions"
    acme = await cluster.settled("acme", mine)
    globex = await cluster.settled("globex", theirs)
    assert acme["status"] == "resolved", (
        f"acme's own policy remediates, got {acme['status']}"
    )
    assert globex["status"] == "notified", (
        f"globex's notify_only, got {globex['status']}"
    )
    assert (await cluster.get("globex", mine)).status_code == 404
    assert (await cluster.get("acme", theirs)).status_code == 404
    foreign = await cluster.http.post(
        f"/exceptions/{mine}/events", json={"message": "x"}, headers=headers("globex")
    )
    assert foreign.status_code == 404, f"expected 404, got {foreign.status_code}"
    listed = (
        await cluster.http.get("/exceptions?limit=200", headers=headers("globex"))
    ).json()
    assert mine not in {i["exception_id"] for i in listed["items"]}
    assert (
        await cluster.http.get("/tenants/acme/policy", headers=headers("globex"))
    ).status_code == 404
    assert (
        await cluster.http.put(
            "/tenants/acme/policy", json=policy, headers=headers("globex")
        )
    ).status_code == 404
    assert (
        await cluster.http.get("/tenants/acme/policy", headers=headers("acme"))
    ).json()["version"] == 0, "acme's policy is untouched"
    letters = (
        await cluster.http.get("/exceptions/dead-letters", headers=headers("globex"))
    ).json()
    assert all(x["exception_id"] != mine for x in letters["items"])
    acme_letters = (
        await cluster.http.get("/exceptions/dead-letters", headers=headers("acme"))
    ).json()["items"]
    for letter in acme_letters:
        shown = await cluster.http.get(
            f"/exceptions/dead-letters/{letter['id']}", headers=headers("globex")
        )
        assert shown.status_code == 404, "another tenant's dead letter is not found"
    tenants = await cluster.sql(
        f"SELECT DISTINCT tenant FROM runs WHERE {OF} = $1", mine
    )
    assert [r[0] for r in tenants] == ["acme"], f"acme's runs only, got {tenants}"
    assert {e.tenant for e in executions_of(cluster, mine)} == {"acme"}
    unauthenticated = await cluster.http.get(f"/exceptions/{mine}")
    assert unauthenticated.status_code == 401
    await cluster.http.put(
        "/tenants/globex/policy",
        json={
            "default_action": "notify_only",
            "rules": [{"category": "jobs", "action": "auto_remediate"}],
        },
        headers=headers("globex"),
    )


async def test_parallel_exceptions(cluster: Cluster) -> None:
    """200 exceptions from 3 tenants at once all complete, each once."""
    tenants = ["acme", "globex", "initech"]
    bodies = [(tenants[n % 3], report(1000 + n)) for n in range(200)]
    accepted = await asyncio.gather(*(cluster.post(t, b) for t, b in bodies))
    ids = [a["exception_id"] for a in accepted]
    assert len(set(ids)) == 200, "every report is its own exception"

    async def all_done() -> bool:
        rows = await cluster.sql(
            "SELECT count(*) FROM exception_events WHERE exception_id = ANY($1) "
            "AND finished_at IS NOT NULL",
            ids,
        )
        return bool(rows[0][0] == 200)

    await wait_until(all_done, timeout=100, interval_s=0.5, message="200 exceptions")
    records = await cluster.sql(
        "SELECT stage, count(*) FROM exception_stage_records "
        "WHERE exception_id = ANY($1) GROUP BY stage",
        ids,
    )
    assert {r[0]: r[1] for r in records} == dict.fromkeys(STAGES, 200), records
    keys = [
        e.idempotency_key
        for e in cluster.fake.services.executions
        if e.exception_id in set(ids)
    ]
    assert len(keys) == len(set(keys)), "no tool call executed twice"


async def test_worker_crash_redelivery(cluster: Cluster) -> None:
    """A worker process SIGKILLed in the middle of a tool call: after its lease
    expires another worker recovers the run, calls the tool again with the same
    idempotency key, and the effect happens once."""
    fake = cluster.fake.services
    # Aimed at this report's call: a call of an earlier test still in flight
    # must not take the stall (the wrong worker would be killed).
    marker = f"crash-{uuid.uuid4().hex[:8]}"
    fake.stall_next(1, delay_s=4.0, tool=ToolName.RETRY_JOB, body_contains=marker)
    assert fake.pending_faults == 1
    exception_id = (await cluster.post("acme", report(8, external_ref=marker)))[
        "exception_id"
    ]
    await wait_until(
        lambda: fake.pending_faults == 0, timeout=30, message="the stalled tool call"
    )
    rows = await cluster.sql(
        f"SELECT owner, id FROM runs WHERE {OF} = $1 AND workflow = 'exceptions.tool'",
        exception_id,
    )
    owner, run_id = rows[0]
    victim = cluster.worker_of(owner)
    victim.kill()
    found = await cluster.settled("acme", exception_id, timeout=60)
    assert found["status"] == "resolved", found["status"]
    done = executions_of(cluster, exception_id)
    assert [e.tool.value for e in done] == ["retry_job", "notify"], (
        f"expected each tool once, got {done}"
    )
    run = await cluster.sql("SELECT recoveries, owner FROM runs WHERE id = $1", run_id)
    events = await cluster.sql(
        "SELECT type FROM events WHERE run_id = $1 ORDER BY seq", run_id
    )
    kinds = [e[0] for e in events]
    assert run[0][0] == 1, (
        f"expected one recovery, got {run[0][0]} (killed {owner}, finished by "
        f"{run[0][1]}; events {kinds})"
    )
    assert "run.recovered" in kinds, kinds
    cluster.start_worker(victim.stages)  # the next tests want two per stage again


async def test_outbox_no_loss_on_crash(cluster: Cluster) -> None:
    """An API process that dies (SIGKILL) right after storing a report, before
    publishing anything, loses nothing: the outbox relay sends the stored event
    and the exception is processed, once."""
    env = {**cluster.env(), "CRASH_TENANT": "acme", "CRASH_MESSAGE": "Batch 9 failed"}
    process = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(HERE / "crash_submit.py")],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert process.returncode == -signal.SIGKILL, (
        f"expected the submitter to die by SIGKILL, got {process.returncode}: "
        f"{process.stderr.decode()[-2000:]}"
    )
    exception_id = process.stdout.decode().strip().splitlines()[-1]
    stored = await cluster.sql(
        "SELECT count(*) FROM outbox o JOIN runs r ON r.id = o.run_id "
        f"WHERE {OF_R} = $1",
        exception_id,
    )
    runs = await cluster.sql(f"SELECT count(*) FROM runs WHERE {OF} = $1", exception_id)
    assert runs[0][0] >= 1, "the report was stored before the crash"
    found = await cluster.settled("acme", exception_id, timeout=60)
    assert found["status"] == "resolved", found["status"]
    assert len(executions_of(cluster, exception_id)) == 2, "each tool once"
    intake = await cluster.sql(
        f"SELECT count(*) FROM runs WHERE {OF} = $1 AND workflow = 'exceptions.intake'",
        exception_id,
    )
    assert intake[0][0] == 1, f"expected one intake run, got {intake[0][0]}"
    left = await cluster.sql(
        "SELECT count(*) FROM outbox o JOIN runs r ON r.id = o.run_id "
        f"WHERE {OF_R} = $1",
        exception_id,
    )
    assert stored[0][0] in (0, 1) and left[0][0] == 0, "the outbox is drained"
    assert os.environ.get("CRASH_TENANT") is None
