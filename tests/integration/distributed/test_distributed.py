"""Distributed mode with real worker processes: a worker killed mid-step, key order
across workers, NATS and PostgreSQL restarts, and the outbox."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
import worker_app

from conveyor import Conveyor, Settings
from conveyor.bus.nats_subjects import Subjects
from conveyor.errors import RunFailedError
from conveyor.events import Event
from conveyor.runs import RunRecord, RunStatus
from conveyor.testing import assert_events, wait_until
from conveyor.testing.servers import NatsServer, PostgresServer

HERE = Path(__file__).parent
WORKFLOWS = (
    worker_app.checkout,
    worker_app.keyed,
    worker_app.slow,
    worker_app.family,
    worker_app.broken,
)
pytestmark = pytest.mark.slow


class Cluster:
    """Worker processes and an API-only app on one database and NATS namespace."""

    def __init__(self, store_url: str, nats_url: str, tmp_path: Path) -> None:
        self.store_url = store_url
        namespace = f"t{uuid.uuid4().hex[:10]}"
        self.bus_url = f"{nats_url}?namespace={namespace}&partitions=4&pin_ttl=1"
        self.calls_file = str(tmp_path / "calls.log")
        self.processes: list[subprocess.Popen[bytes]] = []
        self.apps: list[Conveyor] = []

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CONVEYOR_STORE_URL": self.store_url,
            "CONVEYOR_BUS_URL": self.bus_url,
            "CONVEYOR_LEASE_TTL_S": "2",
            "CONVEYOR_HEARTBEAT_S": "0.5",
            "TEST_CALLS_FILE": self.calls_file,
        }

    def worker(self, **extra: str) -> subprocess.Popen[bytes]:
        """Start a `conveyor worker` process (`extra` environment variables)."""
        argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
        argv += ["--app", "worker_app:make_app", "--drain-timeout", "5"]
        env = {
            **self.env(), "CONVEYOR_WORKER_ID": f"w-{uuid.uuid4().hex[:8]}", **extra
        }  # fmt: skip
        process = subprocess.Popen(
            argv, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        self.processes.append(process)
        return process

    async def api(self) -> Conveyor:
        """An API-only app (dispatches, never executes)."""
        settings = Settings(
            store_url=self.store_url, bus_url=self.bus_url, lease_ttl_s=2,
            heartbeat_s=0.5,
        )  # fmt: skip
        app = Conveyor(
            settings=settings,
            run_workers=False,
            workflows=list(WORKFLOWS),
        )
        await app.open()
        self.apps.append(app)
        return app

    def calls(self) -> list[dict[str, Any]]:
        return worker_app.calls(self.calls_file)

    async def aclose(self) -> None:
        for app in self.apps:
            await app.aclose()
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()


@pytest.fixture(name="own_nats", scope="module")
def fixture_own_nats() -> Iterator[NatsServer]:
    """A NATS server these tests may restart."""
    with NatsServer() as server:
        yield server


@pytest.fixture(name="own_postgres", scope="module")
def fixture_own_postgres() -> Iterator[PostgresServer]:
    """A durable PostgreSQL server these tests may restart."""
    with PostgresServer(durable=True) as server:
        yield server


@pytest_asyncio.fixture(name="cluster")
async def fixture_cluster(
    conveyor_database: Any, nats_server: Any, tmp_path: Path
) -> AsyncIterator[Cluster]:
    """A cluster on the session's servers."""
    cluster = Cluster(conveyor_database.url, nats_server.url, tmp_path)
    try:
        yield cluster
    finally:
        await cluster.aclose()


async def effects(store_url: str) -> list[str]:
    conn = await asyncpg.connect(store_url)
    try:
        return [row[0] for row in await conn.fetch("SELECT key FROM effects")]
    finally:
        await conn.close()


async def test_worker_sigkill_run_recovered_once(cluster: Cluster) -> None:
    """A worker process SIGKILLed in the middle of a step: after its lease expires
    another worker finishes the run; the completed step is not run again and the
    interrupted one runs again with the same idempotency key, so its side effect
    happens once."""
    cluster.worker()
    cluster.worker()
    api = await cluster.api()
    handle = await api.start("checkout", "hang-1")
    charges = await wait_until(
        lambda: [c for c in cluster.calls() if c["step"] == "charge"], timeout=30
    )
    victim = charges[0]["pid"]
    os.kill(victim, signal.SIGKILL)
    assert await handle.result(timeout_s=60) == "charged hang-1"
    calls = cluster.calls()
    charges = [c for c in calls if c["step"] == "charge"]
    assert len(charges) == 2 and charges[1]["pid"] != victim, charges
    assert charges[0]["key"] == charges[1]["key"], "same idempotency key on retry"
    assert [c["step"] for c in calls].count("prepare") == 1, "prepare ran once"
    assert await effects(cluster.store_url) == [charges[0]["key"]], "effect once"
    expected = ["step.completed", "run.recovered", "step.completed", "run.completed"]
    await assert_events(api, handle.run_id, expected)
    run = await api.get_run(handle.run_id)
    assert run.status is RunStatus.COMPLETED and run.recoveries == 1


async def test_cross_worker_per_key_ordering(cluster: Cluster) -> None:
    """With two worker processes, runs of one key start in submission order and
    never overlap; all keys complete."""
    cluster.worker()
    cluster.worker()
    api = await cluster.api()
    handles = [
        await api.start("keyed", {"key": key, "n": n}, key=key)
        for n in range(8)
        for key in ("a", "b", "c")
    ]
    await asyncio.gather(*(h.result(timeout_s=90) for h in handles))
    for key in ("a", "b", "c"):
        trace = [(c["step"], c["n"]) for c in cluster.calls() if c.get("k") == key]
        expected = [(step, n) for n in range(8) for step in ("start", "end")]
        assert trace == expected, f"key {key} ran as {trace}"


async def test_tenant_limit_across_workers(cluster: Cluster) -> None:
    """With a tenant limit of 2 and two worker processes sharing the tenant's runs,
    no more than two of them execute at once anywhere, and all complete."""
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="2")
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="2")
    api = await cluster.api()
    pids: set[int] = set()
    for attempt in range(10):  # until both workers have taken part
        handles = [await api.start("slow", 10 * attempt + n) for n in range(8)]
        results = await asyncio.gather(*(h.result(timeout_s=60) for h in handles))
        assert sorted(results) == [10 * attempt + n for n in range(8)], results
        running = peak = 0
        for call in cluster.calls():  # one file, appended in the order of events
            running += 1 if call["step"] == "start" else -1
            peak = max(peak, running)
            pids.add(call["pid"])
        assert peak <= 2, f"expected at most 2 of the tenant's runs at once: {peak}"
        if len(pids) == 2:
            return
    raise AssertionError(f"expected both workers to take runs, got {pids}")


LIVE_LEASES = """
SELECT count(*) FROM runs WHERE tenant = $1 AND owner IS NOT NULL
    AND status IN ('pending', 'running', 'retrying') AND lease_expires_at >= $2
"""


async def sample_leases(store_url: str, tenant: str, peaks: list[int]) -> None:
    """Append the tenant's live leases to `peaks` every 10 ms until cancelled."""
    conn = await asyncpg.connect(store_url)
    try:
        while True:
            peaks.append(int(await conn.fetchval(LIVE_LEASES, tenant, time.time())))
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def quiet_latencies(api: Conveyor, count: int) -> list[float]:
    """Seconds each of `count` 0.2 s runs of tenant quiet took, one after the
    other, from start to result."""
    latencies = []
    for n in range(count):
        started = time.perf_counter()
        handle = await api.start("slow", n, tenant="quiet")
        assert await handle.result(timeout_s=30) == n
        latencies.append(time.perf_counter() - started)
    return latencies


async def test_quiet_tenant_runs_promptly_beside_a_flood(cluster: Cluster) -> None:
    """While one tenant has 1,500 runs waiting at its limit of 2 across two
    workers, another tenant's 0.2 s runs still complete in under a second each,
    the flood keeps its two slots busy (~10 runs/s allowed) and no more than two
    of its leases are ever alive at once."""
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="2")
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="2")
    api = await cluster.api()
    await (await api.start("slow", -1, tenant="quiet")).result(timeout_s=30)
    peaks: list[int] = []
    sampler = asyncio.create_task(sample_leases(cluster.store_url, "noisy", peaks))
    try:
        await asyncio.gather(
            *(api.start("slow", n, tenant="noisy") for n in range(1500))
        )
        await wait_until(
            lambda: peaks and peaks[-1] == 2,
            timeout=15,
            message="the flood holding both of its slots",
        )
        done_before = await completed(cluster.store_url, "noisy")
        began = time.perf_counter()
        latencies = await quiet_latencies(api, 4)
        rate = (await completed(cluster.store_url, "noisy") - done_before) / (
            time.perf_counter() - began
        )
    finally:
        sampler.cancel()
        await asyncio.gather(sampler, return_exceptions=True)
    assert max(latencies) < 1.0, f"quiet runs took {latencies} s beside the flood"
    assert rate >= 6.0, f"the flood ran {rate:.1f} runs/s; its limit allows ~10"
    assert peaks and max(peaks) <= 2, f"up to {max(peaks)} leases of the limit 2"


def most_at_once(calls: list[dict[str, Any]]) -> dict[int, int]:
    """Per worker process, the most steps logged as started and not yet ended."""
    running: dict[int, int] = {}
    peaks: dict[int, int] = {}
    for call in calls:  # one file, appended in the order of events
        pid = call["pid"]
        running[pid] = running.get(pid, 0) + (1 if call["step"] == "start" else -1)
        peaks[pid] = max(peaks.get(pid, 0), running[pid])
    return peaks


async def test_workers_admit_tenants_in_turn_under_a_flood(cluster: Cluster) -> None:
    """Two workers of capacity 3 with 300 of one tenant's 0.2 s runs queued (about
    ten seconds of work): each worker executes at most 3 runs at once, and
    another tenant's runs are admitted at the next free place, not behind the
    flood — each completes in under a second while most of the flood waits."""
    cluster.worker(CONVEYOR_WORKER_CONCURRENCY="3")
    cluster.worker(CONVEYOR_WORKER_CONCURRENCY="3")
    api = await cluster.api()
    await (await api.start("slow", -1, tenant="quiet")).result(timeout_s=30)
    await asyncio.gather(*(api.start("slow", n, tenant="noisy") for n in range(300)))
    latencies = await quiet_latencies(api, 4)
    flood_done = await completed(cluster.store_url, "noisy")
    assert max(latencies) < 1.0, f"quiet runs took {latencies} s beside the flood"
    assert flood_done < 200, f"the flood was nearly done ({flood_done}): no contest"
    await wait_until(
        lambda: sum(c["step"] == "end" for c in cluster.calls()) == 305,
        timeout=60,
        message="every run ending",
    )
    peaks = most_at_once(cluster.calls())
    assert peaks and max(peaks.values()) <= 3, f"runs at once per worker: {peaks}"


async def test_a_parent_waiting_on_children_gives_its_place_back(
    cluster: Cluster,
) -> None:
    """With room for one run per worker, parents waiting on their children (and
    then on a durable timer) do not keep the children from being admitted."""
    cluster.worker(CONVEYOR_WORKER_CONCURRENCY="1")
    api = await cluster.api()
    handles = [await api.start("family", n) for n in range(3)]
    results = await asyncio.gather(*(h.result(timeout_s=60) for h in handles))
    assert results == [30 * n + 3 for n in range(3)], results
    assert max(most_at_once(cluster.calls()).values()) == 1


async def test_cancel_and_failure_free_the_tenant_slot(cluster: Cluster) -> None:
    """With a tenant limit of 1, runs waiting for the slot start one after the
    other as the run holding it is cancelled and the next one fails; the tenant's
    runs never overlap."""
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="1", CONVEYOR_CANCEL_GRACE_S="0.2")
    api = await cluster.api()
    holder = await api.start("checkout", "hang-limit", tenant="t")
    await wait_until(
        lambda: any(c["step"] == "charge" for c in cluster.calls()), timeout=30
    )
    failing = await api.start("broken", 1, tenant="t")
    waiting = await api.start("slow", 2, tenant="t")
    await asyncio.sleep(0.5)  # a window for a run over the limit to show itself
    assert not [c for c in cluster.calls() if c["step"] == "start"], "over the limit"
    await holder.cancel()
    assert await waiting.result(timeout_s=15) == 2
    with pytest.raises(RunFailedError):
        await failing.result(timeout_s=15)
    trace = [c["step"] for c in cluster.calls() if c["step"] in ("start", "end")]
    assert trace == ["start", "end", "start", "end"], f"overlapping runs: {trace}"


async def test_dead_workers_slot_and_waiting_runs_are_taken_over(
    cluster: Cluster,
) -> None:
    """With a tenant limit of 1, the worker holding the slot is SIGKILLed while
    runs of the tenant wait on both workers: the slot frees when the dead run's
    lease expires, the dead worker's waiting runs are sent again by the relay once
    its marks age (3 s here), and every run completes, one at a time."""
    relay = {"CONVEYOR_BUS_URL": f"{cluster.bus_url}&relay_repeat=3"}
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="1", **relay)
    cluster.worker(CONVEYOR_TENANT_CONCURRENCY="1", **relay)
    api = await cluster.api()
    holder = await api.start("checkout", "hang-dead", tenant="t")
    charges = await wait_until(
        lambda: [c for c in cluster.calls() if c["step"] == "charge"], timeout=30
    )
    handles = await asyncio.gather(
        *(api.start("slow", n, tenant="t") for n in range(6))
    )
    await asyncio.sleep(0.5)  # a window for a run over the limit to show itself
    assert not [c for c in cluster.calls() if c["step"] == "start"], "over the limit"
    os.kill(charges[0]["pid"], signal.SIGKILL)
    results = await asyncio.gather(*(h.result(timeout_s=30) for h in handles))
    assert sorted(results) == list(range(6))
    assert await holder.result(timeout_s=30) == "charged hang-dead"
    trace = [c["step"] for c in cluster.calls() if c["step"] in ("start", "end")]
    assert trace == ["start", "end"] * 6, f"overlapping runs: {trace}"


async def completed(store_url: str, tenant: str) -> int:
    """How many of the tenant's runs have completed."""
    conn = await asyncpg.connect(store_url)
    try:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM runs WHERE tenant = $1 AND status = 'completed'",
                tenant,
            )
        )
    finally:
        await conn.close()


async def test_partitions_spread_over_workers(cluster: Cluster) -> None:
    """Two worker processes share the partitions: once both announced themselves,
    each holds at most half of the pins, so each executes the runs of its own
    partitions and both take part."""
    cluster.worker()
    cluster.worker()
    api = await cluster.api()
    subjects = Subjects("any", 4)
    by_pid: dict[int, set[int]] = {}
    for attempt in range(20):
        keys = [f"spread-{attempt}-{n}" for n in range(12)]
        handles = [
            await api.start("keyed", {"key": key, "n": n}, key=key)
            for n, key in enumerate(keys)
        ]
        await asyncio.gather(*(h.result(timeout_s=30) for h in handles))
        by_pid = {}
        for call in cluster.calls():
            if call["step"] == "start" and call["k"] in keys:
                partition = subjects.partition("default", call["k"], "")
                by_pid.setdefault(call["pid"], set()).add(partition)
        if len(by_pid) == 2 and all(len(ps) <= 2 for ps in by_pid.values()):
            return
        await asyncio.sleep(0.25)
    raise AssertionError(f"expected 2 workers with 2 partitions each, got {by_pid}")


async def submit_through_outage(api: Conveyor, outage: Any, count: int) -> list[Any]:
    """Submit `count` keyed runs, with `outage()` halfway; return their handles."""
    handles = []
    for n in range(count):
        if n == count // 2:
            outage()
        key = f"k{n % 5}"
        handles.append(await api.start("keyed", {"key": key, "n": n}, key=key))
    return handles


def assert_each_ran_once(cluster: Cluster, count: int) -> None:
    starts = sorted(c["n"] for c in cluster.calls() if c["step"] == "start")
    assert starts == list(range(count)), f"each run once, got {starts}"


async def test_nats_restart_no_loss(
    own_nats: NatsServer, conveyor_database: Any, tmp_path: Path
) -> None:
    """The NATS server restarts mid-stream: every run still completes, once."""
    cluster = Cluster(conveyor_database.url, own_nats.url, tmp_path)
    try:
        cluster.worker()
        cluster.worker()
        api = await cluster.api()
        handles = await submit_through_outage(api, own_nats.restart, 30)
        results = await asyncio.gather(*(h.result(timeout_s=90) for h in handles))
        assert sorted(results) == list(range(30))
        assert_each_ran_once(cluster, 30)
        assert len({h.run_id for h in handles}) == 30
    finally:
        await cluster.aclose()


async def test_postgres_restart_recovers(
    own_postgres: PostgresServer, nats_server: Any, tmp_path: Path
) -> None:
    """PostgreSQL restarts mid-stream: connections are re-established and every
    run completes, once."""
    database = own_postgres.create_database(f"restart_{uuid.uuid4().hex[:8]}")
    cluster = Cluster(database.url, nats_server.url, tmp_path)
    try:
        cluster.worker()
        cluster.worker()
        api = await cluster.api()
        handles = await submit_through_outage(api, own_postgres.restart, 30)
        results = await asyncio.gather(*(h.result(timeout_s=90) for h in handles))
        assert sorted(results) == list(range(30))
        assert_each_ran_once(cluster, 30)
    finally:
        await cluster.aclose()


async def test_outbox_atomicity(cluster: Cluster) -> None:
    """A run stored with its dispatch message but never published (the API process
    died between its commit and the publish) still runs: the relay sends the
    message from the outbox, and claiming the run removes it."""
    cluster.worker()
    api = await cluster.api()
    store = api.store
    now = api.clock.now()
    run = RunRecord(
        id=uuid.uuid4().hex, workflow="keyed", tenant="default",
        status=RunStatus.PENDING, input={"key": "x", "n": 7}, created_at=now,
        updated_at=now, key="x",
    )  # fmt: skip
    first = Event(run.id, 1, "run.submitted", now, "default", "keyed")
    await store.create_run(run, first)  # stored with its message; nothing sent
    assert await store.outbox_size() == 1  # type: ignore[attr-defined]
    assert await api.result(run.id, timeout_s=60) == 7
    assert await store.outbox_size() == 0  # type: ignore[attr-defined]
