"""Tenant fairness under a flood, in distributed mode: with a per-tenant
concurrency limit, tenant A submits thousands of no-op 3-step runs at once while
tenants B and C keep submitting at a steady pace. A quiet tenant's latency should
barely notice the flood, and the flood should still run at about the pace its limit
allows.

PostgreSQL and NATS come from the wheels, with `--workers` `conveyor worker`
processes on 127.0.0.1 (as in `distributed.py`). Two phases of `--window` seconds
each: B and C alone (unloaded), then B and C beside A's flood. Printed: the quiet
tenants' p50/p95 latency (start → result) in each phase, A's completions per
second during the flood window, and the most leases A was ever seen holding
(sampled every 20 ms; it must never exceed the limit). Writes
benchmarks/results/tenant_fairness.json.

    uv run python benchmarks/tenant_fairness.py [--flood 3000] [--limit 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from distributed import percentile, three_steps

from conveyor import Conveyor, Settings

HERE = Path(__file__).parent
RESULTS = HERE / "results"
QUIET = ("b", "c")
LIVE_LEASES = """
SELECT count(*) FROM runs WHERE tenant = $1 AND owner IS NOT NULL
    AND status IN ('pending', 'running', 'retrying') AND lease_expires_at >= $2
"""
DONE = "SELECT count(*) FROM runs WHERE tenant = $1 AND status = 'completed'"
RELAYED = "SELECT count(*) FROM outbox WHERE attempts > 0"
LOCK_WAITERS = "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
COMMITS = "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"


def cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds a process has used (with `children`, also its children's, live
    or reaped: PostgreSQL's backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if not children:
        return used / tick
    used += int(fields[13]) + int(fields[14])
    return used / tick + sum(cpu_s(int(kid)) for kid in kids)


class CpuMeter:
    """CPU used by the workers and by PostgreSQL, per second of a window."""

    def __init__(self, workers: list[int], postgres: int) -> None:
        self.workers = workers
        self.postgres = postgres

    def snapshot(self) -> tuple[float, float, float]:
        return (
            time.perf_counter(),
            sum(cpu_s(pid) for pid in self.workers),
            cpu_s(self.postgres, children=True),
        )

    @staticmethod
    def share(before: tuple[float, ...], after: tuple[float, ...]) -> dict[str, float]:
        """Cores busy on average between two snapshots."""
        elapsed = after[0] - before[0]
        return {
            "cores_workers": (after[1] - before[1]) / elapsed,
            "cores_postgres": (after[2] - before[2]) / elapsed,
        }


def summary(latencies: list[float]) -> dict[str, float]:
    """Median and 95th percentile, in milliseconds."""
    return {
        "runs": len(latencies),
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
    }


async def quiet_traffic(app: Conveyor, rate: float, window_s: float) -> list[float]:
    """Each quiet tenant starts `rate` runs a second for `window_s`; the latency
    of every one of them, once all have ended."""
    latencies: list[float] = []

    async def one(tenant: str) -> None:
        began = time.perf_counter()
        handle = await app.start(three_steps, 1, tenant=tenant)
        await handle.result(timeout_s=300)
        latencies.append(time.perf_counter() - began)

    pending: list[asyncio.Task[None]] = []
    began = time.perf_counter()
    for n in range(int(rate * window_s)):
        await asyncio.sleep(max(0.0, began + n / rate - time.perf_counter()))
        pending += [asyncio.create_task(one(tenant)) for tenant in QUIET]
    await asyncio.gather(*pending)
    return latencies


class LeaseSampler:
    """Watches how many live leases the flooding tenant holds, and how many
    sessions wait on a tenant's advisory lock."""

    def __init__(self, store_url: str) -> None:
        self.store_url = store_url
        self.peak = 0
        self.samples = 0
        self.held: list[int] = []
        self.lock_waiters: list[int] = []

    async def run(self) -> None:
        conn = await asyncpg.connect(self.store_url)
        try:
            while True:
                held = await conn.fetchval(LIVE_LEASES, "a", time.time())
                self.peak = max(self.peak, int(held))
                self.held.append(int(held))
                self.lock_waiters.append(int(await conn.fetchval(LOCK_WAITERS)))
                self.samples += 1
                await asyncio.sleep(0.02)
        finally:
            await conn.close()


async def counts(store_url: str) -> tuple[int, int, int]:
    """Tenant A's completed runs, the database's committed transactions, and the
    dispatch messages waiting in the outbox that the relay has sent again."""
    conn = await asyncpg.connect(store_url)
    try:
        return (
            int(await conn.fetchval(DONE, "a")),
            int(await conn.fetchval(COMMITS)),
            int(await conn.fetchval(RELAYED)),
        )
    finally:
        await conn.close()


async def unloaded_phase(
    app: Conveyor, meter: CpuMeter, store_url: str, rate: float, window_s: float
) -> dict[str, Any]:
    """The quiet tenants alone (the sampler runs too, so both phases bear its
    queries)."""
    watching = asyncio.create_task(LeaseSampler(store_url).run())
    before = meter.snapshot()
    latencies = await quiet_traffic(app, rate, window_s)
    cpu = meter.share(before, meter.snapshot())
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    return {**summary(latencies), **cpu}


async def flood_phase(
    app: Conveyor,
    meter: CpuMeter,
    store_url: str,
    flood: int,
    rate: float,
    window_s: float,
) -> dict[str, Any]:
    """A's flood, submitted at once, then the quiet tenants' window beside it."""
    sampler = LeaseSampler(store_url)
    watching = asyncio.create_task(sampler.run())
    began = time.perf_counter()
    await asyncio.gather(*(app.start(three_steps, n, tenant="a") for n in range(flood)))
    submitted_s = time.perf_counter() - began
    done_before, commits_before, _ = await counts(store_url)
    window_began = time.perf_counter()
    before = meter.snapshot()
    latencies = await quiet_traffic(app, rate, window_s)
    cpu = meter.share(before, meter.snapshot())
    window = time.perf_counter() - window_began
    done_after, commits_after, relayed = await counts(store_url)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    return {
        "quiet": {**summary(latencies), **cpu},
        "relayed": relayed,
        "flood_submit_s": submitted_s,
        "flood_runs_per_s": (done_after - done_before) / window,
        "flood_completed": done_after,
        "commits_per_s": (commits_after - commits_before) / window,
        "lock_waiters_median": statistics.median(sampler.lock_waiters),
        "lock_waiters_peak": max(sampler.lock_waiters),
        "peak_leases": sampler.peak,
        "mean_leases": statistics.fmean(sampler.held),
        "lease_samples": sampler.samples,
    }


def start_workers(
    count: int, store_url: str, bus_url: str, limit: int
) -> list[subprocess.Popen[str]]:
    env = {
        **os.environ,
        "CONVEYOR_STORE_URL": store_url,
        "CONVEYOR_BUS_URL": bus_url,
        "CONVEYOR_TENANT_CONCURRENCY": str(limit),
    }
    argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
    argv += ["--app", "distributed:make_app"]
    return [
        subprocess.Popen(
            argv,
            cwd=HERE,
            env={**env, "CONVEYOR_WORKER_ID": f"fair-{n}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    """Read the process's stderr until a line holds `text`."""
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return
    raise RuntimeError(f"worker exited before saying {text!r}")


def stop_workers(processes: list[subprocess.Popen[str]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


async def bench(
    args: argparse.Namespace, store_url: str, nats_url: str, postgres: int
) -> Any:
    bus_url = f"{nats_url}?namespace=f{uuid.uuid4().hex[:8]}&partitions=16&pin_ttl=2"
    processes = start_workers(args.workers, store_url, bus_url, args.limit)
    try:
        for process in processes:
            await asyncio.to_thread(wait_for_line, process, "is taking runs")
        await asyncio.sleep(3.0)  # the partitions spread over the workers
        settings = Settings(store_url=store_url, bus_url=bus_url)
        async with Conveyor(
            settings=settings, workflows=[three_steps], run_workers=False
        ) as app:
            await quiet_traffic(app, args.rate, 2.0)  # warm-up
            meter = CpuMeter([process.pid for process in processes], postgres)
            unloaded = await unloaded_phase(
                app, meter, store_url, args.rate, args.window
            )
            print(line("unloaded", unloaded))
            flooded = await flood_phase(
                app, meter, store_url, args.flood, args.rate, args.window
            )
            print(line("under flood", flooded["quiet"]))
            print(
                f"flood: {flooded['flood_runs_per_s']:.1f} runs/s of tenant a "
                f"(limit {args.limit}; {flooded['flood_completed']} of "
                f"{args.flood} done), leases held: mean "
                f"{flooded['mean_leases']:.1f}, peak {flooded['peak_leases']}"
            )
            print(
                f"database: {flooded['commits_per_s']:.0f} transactions/s; sessions "
                f"waiting on advisory locks: median "
                f"{flooded['lock_waiters_median']:.0f}, peak "
                f"{flooded['lock_waiters_peak']}; dispatches relayed again "
                f"{flooded['relayed']}"
            )
    finally:
        stop_workers(processes)
    ratio = flooded["quiet"]["p95_ms"] / unloaded["p95_ms"]
    print(f"quiet p95 under flood / unloaded: {ratio:.2f}x")
    return {"unloaded": unloaded, **flooded, "p95_ratio": ratio}


def line(label: str, row: dict[str, Any]) -> str:
    return (
        f"{label:<12} quiet tenants: p50 {row['p50_ms']:8.1f} ms  "
        f"p95 {row['p95_ms']:8.1f} ms  ({row['runs']} runs; cores busy: "
        f"workers {row['cores_workers']:.2f}, postgres {row['cores_postgres']:.2f})"
    )


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from conveyor.testing.servers import NatsServer, PostgresServer

    with PostgresServer() as postgres, NatsServer() as nats:
        assert postgres.pid is not None
        database = postgres.create_database("fairness")
        result = await bench(args, database.url, nats.url, postgres.pid)
    return {**result, **vars(args), "load": os.getloadavg()}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=3000)
    parser.add_argument("--limit", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=5.0, help="per quiet tenant")
    parser.add_argument("--window", type=float, default=15.0, help="seconds")
    arguments = parser.parse_args()
    results = asyncio.run(main(arguments))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "tenant_fairness.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
