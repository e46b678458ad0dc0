"""Exception platform benchmark, distributed, loopback only: PostgreSQL and NATS
from the test kit's wheels, `conveyor worker` processes, the fake tool services in
a uvicorn process, and the API (routes of this repository, API-only engine), which
the driver calls over HTTP.

1. Scaling: a burst of `--burst` reports from 3 tenants with 1, 2 and 4 workers
   per stage (each worker process takes every stage), then one process per stage
   (`--stage`): exceptions/s, and ingest → last tool executed p50/p95 (read from
   the database: the event's `finished_at - ingested_at`). Beside each row, the
   CPU milliseconds per exception of each part and PostgreSQL's commits and
   sessions per exception (`--statements`: the busiest statements). The API
   runs inside the driver here.
2. Load and fairness: the two quiet tenants report at a steady pace alone
   (unloaded), then again while the third floods the system (64 reports at a
   time, as fast as the API takes them), for `--total` reports in all; every
   report must complete once — checked in the database (rows, stage records,
   runs, tool executions against the fake's) — and the quiet tenants' p95 must
   stay within 2x the unloaded one. The API runs in a process of its own
   (`--no-api-process`: in the driver). Fairness comes from the engine's
   per-tenant submission rate (`--submit-rate`, CONVEYOR_TENANT_SUBMIT_RATE),
   its workers' admission (`--worker-concurrency`), its per-tenant limit
   (`--tenant-limit`) or the platform's tenant lanes (`--lanes`).

Run the two parts as separate invocations (`--total 0`, `--burst 0`); each
updates its own part of benchmarks/results/exceptions.json.

    uv run python benchmarks/exceptions.py --burst 1000 --total 0
    uv run python benchmarks/exceptions.py --burst 0 --total 10000 --lanes 0 \
        --submit-rate 15 --plan-cache-mode auto
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import uvicorn
from distributed import cpu_s
from fastapi import FastAPI

from conveyor import Conveyor, Settings
from conveyor.testing import LocalServer
from conveyor_apps.exceptions import ToolSettings
from conveyor_apps.exceptions.config import ExceptionsSettings
from conveyor_apps.exceptions.mount import create_exceptions_app

HERE = Path(__file__).parent
RESULTS = HERE / "results"
KEYS = {
    "acme": "acme-demo-key",
    "globex": "globex-demo-key",
    "initech": "initech-demo-key",
}
QUIET = ("globex", "initech")
STAGES = ("intake", "triage", "policy", "playbook", "tool")
CLIENTS = 8
# Fixed pools: a connection opened past the pool for one burst and closed after
# one query costs a PostgreSQL process and its statement caches each time.
ENGINE_POOL = "pool_size={size}&max_overflow=0&pool_timeout=300"


def percentile(values: Sequence[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(n: int) -> dict[str, Any]:
    """A distinct failed payments batch (two tools for acme, one or two for the
    others depending on their policies)."""
    return {
        "source": "billing",
        "kind": "nightly_batch_failed",
        "message": f"Batch {n} failed: card network unreachable",
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "attributes": {"job_id": f"job-{n}"},
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(url: str, what: str) -> None:
    """Return once `url` answers (a server started in another process)."""
    async with httpx.AsyncClient() as client:
        for _ in range(400):
            try:
                await client.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"{what} did not start")


API_CONFIG = "BENCH_API_CONFIG"


def build_api(config: dict[str, Any]) -> tuple[Conveyor, FastAPI]:
    """The platform's API on an API-only engine (it dispatches, never executes)."""
    settings = Settings(
        store_url=config["store_url"],
        bus_url=config["bus_url"],
        tenant_concurrency=config["tenant_limit"],
        tenant_submit_rate=config["submit_rate"],
    )
    app = Conveyor(settings=settings, run_workers=False)
    api = create_exceptions_app(
        app,
        exceptions_settings=ExceptionsSettings(
            pool_size=3, metrics_refresh_s=60, tenant_lanes=config["lanes"]
        ),
        tool_settings=ToolSettings(base_url=config["fake_url"]),
    )
    return app, api


def serve_api(port: int) -> None:
    """`--serve-api PORT`: serve `build_api` of the configuration in the
    environment until terminated."""
    _, api = build_api(json.loads(os.environ[API_CONFIG]))
    uvicorn.run(
        api, host="127.0.0.1", port=port, log_level="warning", access_log=False,
        lifespan="on", timeout_keep_alive=60,
    )  # fmt: skip


class Fake:
    """The fake tool services in their own uvicorn process."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory",
             "conveyor_apps.exceptions.fakes:create_app", "--port", str(self.port),
             "--log-level", "warning", "--no-access-log"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    async def wait(self) -> None:
        await wait_for(f"{self.url}/_fake/stats", "the fake")

    async def executions(self) -> list[dict[str, Any]]:
        async with httpx.AsyncClient(timeout=60) as client:
            found: list[dict[str, Any]] = (
                await client.get(f"{self.url}/_fake/executions")
            ).json()
            await client.post(f"{self.url}/_fake/reset")
            return found

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)


class Deployment:
    """Workers and the API on one fresh database and NATS namespace."""

    def __init__(
        self,
        store_url: str,
        nats_url: str,
        fake: Fake,
        tenant_limit: int,
        lanes: int = 0,
        worker_concurrency: int = 0,
        submit_rate: float = 0.0,
    ) -> None:
        self.store_url = store_url
        namespace = f"b{uuid.uuid4().hex[:8]}"
        self.bus_url = f"{nats_url}?namespace={namespace}&partitions=8&pin_ttl=2"
        self.fake = fake
        self.env = {
            **os.environ,
            "CONVEYOR_STORE_URL": f"{store_url}?{ENGINE_POOL.format(size=8)}",
            "CONVEYOR_BUS_URL": self.bus_url,
            "EXCEPTIONS_TOOLS_BASE_URL": fake.url,
            "EXCEPTIONS_POOL_SIZE": "3",
            "EXCEPTIONS_TENANT_LANES": str(lanes),
        }
        self.lanes = lanes
        self.submit_rate = submit_rate or None
        self.tenant_limit = tenant_limit or None
        if tenant_limit:
            self.env["CONVEYOR_TENANT_CONCURRENCY"] = str(tenant_limit)
        if worker_concurrency:
            self.env["CONVEYOR_WORKER_CONCURRENCY"] = str(worker_concurrency)
        self.processes: list[subprocess.Popen[bytes]] = []
        self.api: subprocess.Popen[bytes] | None = None
        self.rate_limited: dict[str, int] = {}
        self.app: Conveyor | None = None
        self.server: LocalServer | None = None
        self.clients: list[httpx.AsyncClient] = []
        self._sql: asyncpg.Connection | None = None
        self._sql_lock = asyncio.Lock()

    def start_workers(self, layout: Sequence[Sequence[str]]) -> None:
        for n, stages in enumerate(layout):
            argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
            if os.environ.get("BENCH_PROFILE"):  # cProfile each worker into a file
                profile = f"{os.environ['BENCH_PROFILE']}-{n}.prof"
                argv[1:1] = ["-m", "cProfile", "-o", profile]
            for stage in stages:
                argv += ["--stage", stage]
            self.processes.append(
                subprocess.Popen(
                    argv,
                    env={**self.env, "CONVEYOR_WORKER_ID": f"bench-{n}"},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )

    def api_config(self) -> dict[str, Any]:
        """What the API is built from (`build_api`), in this process or its own."""
        return {
            "store_url": f"{self.store_url}?{ENGINE_POOL.format(size=10)}",
            "bus_url": self.bus_url,
            "fake_url": self.fake.url,
            "lanes": self.lanes,
            "tenant_limit": self.tenant_limit,
            "submit_rate": self.submit_rate,
        }

    def start_api(self) -> str:
        """Start the API in a process of its own; its URL."""
        port = free_port()
        self.api = subprocess.Popen(
            [sys.executable, __file__, "--serve-api", str(port)],
            env={**os.environ, API_CONFIG: json.dumps(self.api_config())},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        return f"http://127.0.0.1:{port}"

    async def open(self, *, api_process: bool = False) -> None:
        """Start the API: in this driver, or (`api_process`) in a process of its
        own, as API servers run in production — then the flood's clients do not
        share an event loop with the API that serves the quiet tenants."""
        if api_process:
            url = self.start_api()
            await wait_for(f"{url}/healthz", "the API")
        else:
            self.app, api = build_api(self.api_config())
            self.server = LocalServer(api, lifespan="on", timeout_keep_alive=60)
            await self.server.start()
            url = self.server.url
        # Several small clients: one pool of 64 connections costs the driver
        # more CPU than the API (httpcore matches every queued request against
        # every connection).
        limits = httpx.Limits(max_connections=8, max_keepalive_connections=8)
        self.clients = [
            httpx.AsyncClient(base_url=url, timeout=120, limits=limits)
            for _ in range(CLIENTS)
        ]

    async def aclose(self) -> None:
        if self._sql is not None:
            await self._sql.close()
        for client in self.clients:
            await client.aclose()
        if self.server is not None:
            await self.server.aclose()
        for process in [*self.processes, *([self.api] if self.api else [])]:
            process.send_signal(signal.SIGTERM)
        for process in [*self.processes, *([self.api] if self.api else [])]:
            try:
                await asyncio.to_thread(process.wait, 30)
            except subprocess.TimeoutExpired:
                process.kill()

    async def post(self, tenant: str, n: int) -> str:
        """Report one exception; a dropped connection is retried (safe: the same
        report names the same exception), and so is a 429 after the wait the API
        asks for (`rate_limited` counts them)."""
        client = self.clients[n % len(self.clients)]
        failures = 0
        while True:
            try:
                answer = await client.post(
                    "/exceptions", json=report(n), headers={"X-API-Key": KEYS[tenant]}
                )
            except httpx.TransportError:
                failures += 1
                if failures == 5:
                    raise
                await asyncio.sleep(0.1)
                continue
            if answer.status_code == 429:
                self.rate_limited[tenant] = self.rate_limited.get(tenant, 0) + 1
                await asyncio.sleep(answer.json()["details"]["retry_after_s"])
                continue
            answer.raise_for_status()
            return str(answer.json()["exception_id"])

    async def sql(self, query: str, *args: Any) -> list[Any]:
        """Rows of one query, on a connection kept for the deployment (so the
        benchmark's own polling opens no sessions)."""
        async with self._sql_lock:
            if self._sql is None:
                self._sql = await asyncpg.connect(self.store_url)
            return list(await self._sql.fetch(query, *args))

    async def finished(self, ids: Sequence[str], timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            rows = await self.sql(
                "SELECT count(*) FROM exception_events WHERE exception_id = ANY($1) "
                "AND finished_at IS NOT NULL",
                list(ids),
            )
            if rows[0][0] >= len(ids):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{rows[0][0]} of {len(ids)} finished")
            await asyncio.sleep(0.5)

    async def stage_waits(self, ids: Sequence[str]) -> dict[str, float]:
        """Median seconds from an event's previous step (its acceptance, or the
        previous stage's record) to each stage's record: where the time went."""
        rows = await self.sql(
            "SELECT stage, percentile_cont(0.5) WITHIN GROUP (ORDER BY wait) FROM "
            "(SELECT s.stage, s.recorded_at - COALESCE(lag(s.recorded_at) OVER "
            "(PARTITION BY s.event_id ORDER BY s.id), e.ingested_at) AS wait "
            "FROM exception_stage_records s JOIN exception_events e "
            "USING (event_id) WHERE s.exception_id = ANY($1)) AS waits "
            "GROUP BY stage",
            list(ids),
        )
        return {stage: round(float(seconds) * 1000, 1) for stage, seconds in rows}

    async def run_phases(self, ids: Sequence[str]) -> dict[str, dict[str, float]]:
        """Median milliseconds of each stage run's phases, from the engine's
        events: `queued` (submitted → started: dispatch, delivery, admission,
        claim), `steps` (started → last step completed) and `completing` (→ run
        completed)."""
        rows = await self.sql(
            "SELECT workflow, percentile_cont(0.5) WITHIN GROUP (ORDER BY s - q), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY l - s), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY c - l) FROM ("
            "SELECT workflow, run_id, "
            "min(ts) FILTER (WHERE type = 'run.submitted') AS q, "
            "min(ts) FILTER (WHERE type = 'run.started') AS s, "
            "max(ts) FILTER (WHERE type = 'step.completed') AS l, "
            "max(ts) FILTER (WHERE type = 'run.completed') AS c "
            "FROM events WHERE session_id = ANY($1) GROUP BY workflow, run_id"
            ") AS phases GROUP BY workflow",
            list(ids),
        )
        phases = ("queued", "steps", "completing")
        return {
            workflow.removeprefix("exceptions."): {
                name: round(float(value) * 1000, 1)
                for name, value in zip(phases, values, strict=True)
                if value is not None
            }
            for workflow, *values in rows
        }

    async def stalls(self, since: float, over_s: float = 1.0) -> list[dict[str, Any]]:
        """Runs since `since` (epoch seconds) with a phase longer than `over_s`:
        when (seconds after `since`), which stage and phase, how long."""
        rows = await self.sql(
            "SELECT workflow, q - $1, s - q, l - s, tenant FROM ("
            "SELECT workflow, min(tenant) AS tenant, "
            "min(ts) FILTER (WHERE type = 'run.submitted') AS q, "
            "min(ts) FILTER (WHERE type = 'run.started') AS s, "
            "max(ts) FILTER (WHERE type = 'step.completed') AS l "
            "FROM events WHERE ts >= $1 GROUP BY run_id, workflow) AS phases "
            "WHERE s - q > $2 OR l - s > $2 ORDER BY q",
            since,
            over_s,
        )
        return [
            {"at_s": round(at, 1), "stage": workflow.removeprefix("exceptions."),
             "queued_s": round(queued, 2), "steps_s": round(steps or 0.0, 2),
             "tenant": tenant}
            for workflow, at, queued, steps, tenant in rows
        ]  # fmt: skip

    async def split_latencies(
        self, ids: Sequence[str], at: float
    ) -> tuple[list[float], list[float]]:
        """Latencies of the events ingested before `at` (epoch seconds), and
        of those ingested after."""
        rows = await self.sql(
            "SELECT ingested_at < $2, finished_at - ingested_at FROM exception_events "
            "WHERE exception_id = ANY($1)",
            list(ids),
            at,
        )
        before = [float(seconds) for early, seconds in rows if early]
        return before, [float(seconds) for early, seconds in rows if not early]

    async def latencies(self, ids: Sequence[str]) -> dict[str, list[float]]:
        rows = await self.sql(
            "SELECT tenant, finished_at - ingested_at FROM exception_events "
            "WHERE exception_id = ANY($1)",
            list(ids),
        )
        found: dict[str, list[float]] = {}
        for tenant, seconds in rows:
            found.setdefault(tenant, []).append(float(seconds))
        return found


async def submit(
    deployment: Deployment, jobs: Sequence[tuple[str, int]], width: int
) -> list[str]:
    gate = asyncio.Semaphore(width)

    async def one(tenant: str, n: int) -> str:
        async with gate:
            return await deployment.post(tenant, n)

    return list(await asyncio.gather(*(one(t, n) for t, n in jobs)))


async def paced(
    deployment: Deployment, tenant: str, start: int, count: int, per_s: float
) -> list[str]:
    """Report `count` exceptions at `per_s`, without waiting for the answers to
    keep the pace."""
    tasks = []
    for n in range(count):
        tasks.append(asyncio.create_task(deployment.post(tenant, start + n)))
        await asyncio.sleep(1 / per_s)
    return list(await asyncio.gather(*tasks))


def summary(
    latencies: Sequence[float], count: int, elapsed_s: float | None = None
) -> dict[str, float]:
    found = {
        "exceptions": count,
        "p50_ms": round(statistics.median(latencies) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
    }
    if elapsed_s is not None:
        found["exceptions_per_s"] = round(count / elapsed_s, 1)
    return found


class Meter:
    """Where a phase's work went, per exception: CPU milliseconds of each part
    (the workers, PostgreSQL with its backends, NATS, the fake, this driver with
    the API), and PostgreSQL's own counters — commits and sessions opened (a
    connection set up per transaction shows there), with `statements` the
    busiest statements (pg_stat_statements)."""

    def __init__(self, deployment: Deployment, servers: Any, statements: bool) -> None:
        self.deployment = deployment
        self.postgres, self.nats = servers
        self.statements = statements
        self.before: dict[str, float] = {}

    async def counters(self) -> dict[str, float]:
        rows = await self.deployment.sql(
            "SELECT xact_commit, sessions FROM pg_stat_database "
            "WHERE datname = current_database()"
        )
        each = {
            f"worker{n}": cpu_s(p.pid) for n, p in enumerate(self.deployment.processes)
        }
        return {
            **each,
            "workers": sum(each.values()),
            "postgres": cpu_s(self.postgres.pid, children=True),
            "nats": cpu_s(self.nats.pid),
            "fake": cpu_s(self.deployment.fake.process.pid),
            "api": cpu_s(self.deployment.api.pid) if self.deployment.api else 0.0,
            "driver": time.process_time(),
            "commits": float(rows[0][0]),
            "sessions": float(rows[0][1]),
        }

    async def start(self) -> None:
        if self.statements:
            await self.deployment.sql(
                "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"
            )
            await self.deployment.sql("SELECT pg_stat_statements_reset()")
        self.before = await self.counters()

    async def per_exception(self, count: int) -> dict[str, Any]:
        await asyncio.sleep(1.5)  # busy backends flush statistics every second
        after = await self.counters()
        used = {k: (after[k] - self.before[k]) / count for k in after}
        found: dict[str, Any] = {
            f"cpu_ms_{k}": round(used[k] * 1000, 2)
            for k in ("workers", "postgres", "nats", "fake", "api", "driver")
        }
        found["cpu_ms_each_worker"] = [
            round(used[f"worker{n}"] * 1000, 2)
            for n in range(len(self.deployment.processes))
        ]
        found["commits"] = round(used["commits"], 1)
        found["sessions"] = round(used["sessions"] * count)
        if self.statements:
            found["statements"] = await self.busiest(count)
        return found

    async def busiest(self, count: int) -> list[dict[str, Any]]:
        rows = await self.deployment.sql(
            "SELECT calls, total_exec_time, query FROM pg_stat_statements s "
            "JOIN pg_database d ON d.oid = s.dbid AND d.datname = current_database()"
            " ORDER BY total_exec_time DESC LIMIT 15"
        )
        return [
            {
                "per_exception": round(calls / count, 2),
                "ms_per_exception": round(total / count, 3),
                "query": " ".join(query.split())[:160],
            }
            for calls, total, query in rows
        ]


def meter_line(found: dict[str, Any]) -> str:
    parts = ("workers", "postgres", "nats", "fake", "driver")
    cpu = "  ".join(f"{p} {found[f'cpu_ms_{p}']:.1f}" for p in parts)
    return (
        f"{'':<28} CPU ms per exception: {cpu}; {found['commits']:.1f} commits "
        f"per exception, {found['sessions']} sessions opened; each worker "
        f"{found['cpu_ms_each_worker']}"
    )


async def warm_up(deployment: Deployment, base: int) -> None:
    """A few exceptions per tenant until the workers answer (pins settle)."""
    ids = await submit(deployment, [(t, base + n) for t in KEYS for n in range(5)], 15)
    await deployment.finished(ids, 120)


async def scaling(
    servers: Any, fake: Fake, layout: Sequence[Sequence[str]], label: str,
    burst: int, limit: int, statements: bool,
) -> dict[str, Any]:  # fmt: skip
    postgres, nats = servers
    database = postgres.create_database(f"bench_{uuid.uuid4().hex[:8]}")
    deployment = Deployment(database.url, nats.url, fake, limit)
    meter = Meter(deployment, servers, statements)
    try:
        deployment.start_workers(layout)
        await deployment.open()
        await warm_up(deployment, 10_000_000)
        tenants = list(KEYS)
        jobs = [(tenants[n % 3], n) for n in range(burst)]
        await meter.start()
        began = time.monotonic()
        ids = await submit(deployment, jobs, 64)
        ingested = time.monotonic() - began
        await deployment.finished(ids, 540)
        elapsed = time.monotonic() - began
        every = [x for v in (await deployment.latencies(ids)).values() for x in v]
        row = {
            "layout": label,
            "processes": len(layout),
            **summary(every, burst, elapsed),
            "ingest_s": round(ingested, 1),
            **(await meter.per_exception(burst)),
        }
    finally:
        await deployment.aclose()
        await fake.executions()
        postgres.drop_database(database.name)
    print(
        f"{label:<28} p50 {row['p50_ms']:8.1f} ms  p95 {row['p95_ms']:8.1f} ms  "
        f"{row['exceptions_per_s']:6.1f} exceptions/s  (all accepted in "
        f"{row['ingest_s']} s)"
    )
    print(meter_line(row))
    for statement in row.get("statements", []):
        print(
            f"{'':<28} {statement['per_exception']:6.2f}/exception "
            f"{statement['ms_per_exception']:7.3f} ms  {statement['query']}"
        )
    return row


async def fairness(
    servers: Any, fake: Fake, workers: int, total: int, quiet_each: int,
    pace: float, limit: int, lanes: int, worker_concurrency: int,
    submit_rate: float, api_process: bool, statements: bool = False,
) -> dict[str, Any]:  # fmt: skip
    postgres, nats = servers
    database = postgres.create_database(f"fair_{uuid.uuid4().hex[:8]}")
    deployment = Deployment(
        database.url, nats.url, fake, limit, lanes, worker_concurrency, submit_rate
    )
    meter = Meter(deployment, servers, statements)
    try:
        deployment.start_workers([STAGES] * workers)
        await deployment.open(api_process=api_process)
        await warm_up(deployment, 20_000_000)
        await fake.executions()
        # unloaded: the quiet tenants alone, at their pace
        await meter.start()
        alone = await asyncio.gather(
            *(paced(deployment, t, 100_000 * (i + 1), quiet_each, pace)
              for i, t in enumerate(QUIET))
        )  # fmt: skip
        alone_ids = [x for ids in alone for x in ids]
        await deployment.finished(alone_ids, 600)
        unloaded = [
            x for v in (await deployment.latencies(alone_ids)).values() for x in v
        ]
        unloaded_cost = await meter.per_exception(len(alone_ids))
        # loaded: the same pace while acme floods
        flood = total - 2 * quiet_each
        await meter.start()
        began, began_at = time.monotonic(), time.time()
        flooding = asyncio.create_task(
            submit(deployment, [("acme", n) for n in range(flood)], 64)
        )
        ingested: list[float] = []  # when the API had taken the whole flood
        flooding.add_done_callback(lambda _: ingested.append(time.time()))
        await asyncio.sleep(1.0)  # the flood is on before the quiet ones start
        quiet = await asyncio.gather(
            *(paced(deployment, t, 500_000 * (i + 1), quiet_each, pace)
              for i, t in enumerate(QUIET))
        )  # fmt: skip
        flood_ids = await flooding
        quiet_ids = [x for ids in quiet for x in ids]
        all_ids = flood_ids + quiet_ids
        await deployment.finished(all_ids, 480)
        elapsed = time.monotonic() - began
        loaded_cost = await meter.per_exception(len(all_ids))
        lat = await deployment.latencies(all_ids)
        loaded = [x for t in QUIET for x in lat.get(t, [])]
        during, after = await deployment.split_latencies(quiet_ids, ingested[0])
        waits = {
            "unloaded_quiet": await deployment.stage_waits(alone_ids),
            "loaded_quiet": await deployment.stage_waits(quiet_ids),
        }
        stalls = await deployment.stalls(began_at)
        phases = {
            "unloaded_quiet": await deployment.run_phases(alone_ids),
            "loaded_quiet": await deployment.run_phases(quiet_ids),
        }
        checks = await verify(deployment, all_ids, await fake.executions())
    finally:
        await deployment.aclose()
        postgres.drop_database(database.name)
    result = {
        "workers_per_stage": workers,
        "tenant_limit": limit,
        "tenant_lanes": lanes,
        "worker_concurrency": worker_concurrency or "default",
        "tenant_submit_rate": submit_rate or None,
        "answered_429": deployment.rate_limited,
        "api_process": api_process,
        "total": total,
        "quiet_per_tenant": quiet_each,
        "quiet_pace_per_s": pace,
        "unloaded_quiet": summary(unloaded, len(unloaded)),
        "loaded_quiet": summary(loaded, len(loaded)),
        "flood_ingest_s": round(ingested[0] - began_at, 1),
        "loaded_quiet_during_flood_ingest": summary(during or [0.0], len(during)),
        "loaded_quiet_after_flood_ingest": summary(after or [0.0], len(after)),
        "flood": summary(lat.get("acme", [0.0]), flood, elapsed),
        "elapsed_s": round(elapsed, 1),
        "median_ms_to_each_stage": waits,
        "median_ms_of_each_run_phase": phases,
        "runs_with_a_phase_over_1s": {"count": len(stalls), "first": stalls[:40]},
        "cost_per_exception": {"unloaded": unloaded_cost, "loaded": loaded_cost},
        "checks": checks,
    }
    ratio = result["loaded_quiet"]["p95_ms"] / result["unloaded_quiet"]["p95_ms"]
    result["quiet_p95_ratio"] = round(ratio, 2)
    return result


async def verify(
    deployment: Deployment, ids: Sequence[str], executions: list[dict[str, Any]]
) -> dict[str, Any]:
    """None lost, none doubled: every exception once, every stage once per event,
    every tool call once (by idempotency key) and equal to the fake's record."""
    count = len(ids)
    one = await deployment.sql(
        "SELECT count(*), count(DISTINCT id) FROM exceptions WHERE id = ANY($1)",
        list(ids),
    )
    events = await deployment.sql(
        "SELECT count(*), count(*) FILTER (WHERE finished_at IS NOT NULL) "
        "FROM exception_events WHERE exception_id = ANY($1)",
        list(ids),
    )
    stages = await deployment.sql(
        "SELECT count(*), count(DISTINCT (event_id, stage)) "
        "FROM exception_stage_records WHERE exception_id = ANY($1)",
        list(ids),
    )
    runs = await deployment.sql(
        "SELECT count(*), count(*) FILTER (WHERE status = 'completed') FROM runs "
        "WHERE session_id = ANY($1)",
        list(ids),
    )
    tools = await deployment.sql(
        "SELECT idempotency_key FROM exception_tool_executions "
        "WHERE exception_id = ANY($1)",
        list(ids),
    )
    recorded = {row[0] for row in tools}
    mine = set(ids)
    faked = [e["idempotency_key"] for e in executions if e["exception_id"] in mine]
    checks = {
        "exceptions": one[0][0] == count == one[0][1],
        "events_finished": events[0][0] == count == events[0][1],
        "stage_records": stages[0][0] == 5 * count == stages[0][1],
        "runs_completed": runs[0][0] == 5 * count == runs[0][1],
        "tool_calls_once": len(faked) == len(set(faked)) == len(recorded),
        "tool_calls_recorded": set(faked) == recorded,
        "tool_calls": len(recorded),
    }
    checks["all_ok"] = all(v for k, v in checks.items() if k != "tool_calls")
    return checks


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from conveyor.testing.servers import NatsServer, PostgresServer

    fake = Fake()
    results: dict[str, Any] = {"cpus": os.cpu_count(), "scaling": []}
    settings = {"max_connections": "300"}
    if args.statements:
        settings["shared_preload_libraries"] = "pg_stat_statements"
    try:
        await fake.wait()
        with PostgresServer(settings=settings) as postgres, NatsServer() as nats:
            servers = (postgres, nats)
            layouts = [
                ([STAGES] * int(n), f"{n} worker(s) per stage")
                for n in args.workers.split(",")
                if args.burst and n.strip()
            ]
            if args.burst and args.per_stage:
                layouts.append(
                    ([(stage,) for stage in STAGES], "1 process per stage (--stage)")
                )
            for layout, label in layouts:
                results["scaling"].append(
                    await scaling(
                        servers, fake, layout, label, args.burst,
                        args.tenant_limit, args.statements,
                    )
                )  # fmt: skip
            if args.total:
                fair = await fairness(
                    servers, fake, args.fair_workers, args.total, args.quiet,
                    args.pace, args.tenant_limit, args.lanes,
                    args.worker_concurrency, args.submit_rate, args.api_process,
                    args.statements,
                )  # fmt: skip
                results["fairness"] = fair
                print(json.dumps(fair, indent=2))
    finally:
        fake.stop()
    return results


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve-api"]:
        serve_api(int(sys.argv[2]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--burst", type=int, default=1000)
    parser.add_argument(
        "--workers", default="1,2,4", help="processes per layout ('' for none)"
    )
    parser.add_argument("--total", type=int, default=10_000)
    parser.add_argument("--quiet", type=int, default=150, help="per quiet tenant")
    parser.add_argument("--pace", type=float, default=2.0, help="quiet reports/s")
    parser.add_argument("--fair-workers", type=int, default=2)
    parser.add_argument("--tenant-limit", type=int, default=0, help="engine's")
    parser.add_argument("--lanes", type=int, default=1, help="per tenant, stage")
    parser.add_argument(
        "--worker-concurrency",
        type=int,
        default=0,
        help="runs each worker executes at once (CONVEYOR_WORKER_CONCURRENCY)",
    )
    parser.add_argument(
        "--submit-rate",
        type=float,
        default=0.0,
        help="reports/s per tenant the API takes (CONVEYOR_TENANT_SUBMIT_RATE)",
    )
    parser.add_argument(
        "--api-process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="load test: the API in a process of its own (as deployed), not in "
        "the driver, whose flood clients would share its event loop",
    )
    parser.add_argument(
        "--per-stage",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also one process per stage",
    )
    parser.add_argument(
        "--statements", action="store_true", help="busiest SQL statements"
    )
    parser.add_argument(
        "--plan-cache-mode",
        default="",
        help="the store's plan_cache_mode (default: the store's, force_custom_plan); "
        "auto lets PostgreSQL use generic plans, cheaper at a steady rate",
    )
    parser.add_argument("--out", default=str(RESULTS / "exceptions.json"))
    args = parser.parse_args()
    if args.plan_cache_mode:  # every engine store of the run: workers and API
        ENGINE_POOL += f"&plan_cache_mode={args.plan_cache_mode}"
    if any(n.strip() and int(n) < 1 for n in args.workers.split(",")):
        parser.error("--workers: each count must be at least 1")
    results = asyncio.run(main(args))
    run = {
        "command": "benchmarks/exceptions.py " + " ".join(sys.argv[1:]),
        "engine_store_options": ENGINE_POOL,
        "cpus": results["cpus"],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    out = Path(args.out)
    out.parent.mkdir(exist_ok=True)
    # scaling and load runs are separate invocations (each bounded in time):
    # each replaces only its own part of the file
    kept = json.loads(out.read_text()) if out.exists() else {}
    if results["scaling"]:
        kept["scaling"] = {**run, "rows": results["scaling"]}
    if "fairness" in results:
        kept["fairness"] = {**run, **results["fairness"]}
    out.write_text(json.dumps(kept, indent=2) + "\n")
