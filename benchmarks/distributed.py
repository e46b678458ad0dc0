"""Distributed-mode benchmark: the 3-step no-op workflow on PostgreSQL + NATS
JetStream with 1, 2 and 4 `conveyor worker` processes, beside embedded mode
(SQLite + in-process) measured in the same run on the same machine.

Servers come from the wheels (PostgreSQL with fsync, synchronous_commit and
full_page_writes off, as in the tests); the driver is an API-only app submitting
`--concurrency` runs at a time and waiting for each result. Latency is start →
result. Beside each row, the CPU time per workflow of the workers, PostgreSQL,
NATS and the driver says where the two cores go. `--unprepared` turns the store's
`prepared_statements` option off (as behind an older PgBouncer). Writes
benchmarks/results/distributed.json.

    uv run python benchmarks/distributed.py [--runs 2000] [--concurrency 100]
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
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from conveyor import Conveyor, Settings, agent, workflow

HERE = Path(__file__).parent
RESULTS = HERE / "results"
TARGET_WORKFLOWS_PER_S_2_WORKERS = 500


@agent
async def noop(data: int) -> int:
    return data


@workflow
async def three_steps(run: Any, data: int) -> int:
    first = await run.step(noop, data)
    second = await run.step(noop, first)
    return int(await run.step(noop, second))


def make_app() -> Conveyor:
    """The workers' app (settings from CONVEYOR_* variables)."""
    return Conveyor(workflows=[three_steps])


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def measure(app: Conveyor, total: int, width: int) -> dict[str, float]:
    latencies: list[float] = []
    gate = asyncio.Semaphore(width)

    async def one() -> None:
        async with gate:
            began = time.perf_counter()
            await app.run(three_steps, 1)
            latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(total)))
    elapsed = time.perf_counter() - began
    return {
        "runs": total,
        "concurrency": width,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": percentile(latencies, 0.95) * 1000,
        "workflows_per_s": total / elapsed,
    }


async def embedded(total: int, width: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(store_url=f"sqlite:///{tmp}/bench.db")
        async with Conveyor(settings=settings, workflows=[three_steps]) as app:
            await measure(app, min(200, total), width)  # warm-up
            return await measure(app, total, width)


def cpu_s(pid: int, children: bool = False) -> float:
    """CPU seconds a process has used (with `children`, also those it reaped and
    those still running: PostgreSQL's backends)."""
    tick = os.sysconf("SC_CLK_TCK")
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = int(fields[11]) + int(fields[12])
    if children:
        used += int(fields[13]) + int(fields[14])
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return used / tick + sum(cpu_s(int(kid)) for kid in kids)
    return used / tick


def cpu_snapshot(workers: list[int], postgres: int, nats: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the benchmark."""
    return {
        "workers": sum(cpu_s(pid) for pid in workers),
        "postgres": cpu_s(postgres, children=True),
        "nats": cpu_s(nats),
        "driver": time.process_time(),
    }


async def distributed(
    workers: int,
    total: int,
    width: int,
    store_url: str,
    nats_url: str,
    servers: tuple[int, int],
) -> dict[str, float]:
    bus_url = f"{nats_url}?namespace=b{uuid.uuid4().hex[:8]}&partitions=16&pin_ttl=2"
    env = {**os.environ, "CONVEYOR_STORE_URL": store_url, "CONVEYOR_BUS_URL": bus_url}
    argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
    argv += ["--app", "distributed:make_app"]
    processes = [
        subprocess.Popen(  # noqa: ASYNC220 - spawning is instant; we never wait here
            argv,
            cwd=HERE,
            env={**env, "CONVEYOR_WORKER_ID": f"bench-{n}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(workers)
    ]
    settings = Settings(store_url=store_url, bus_url=bus_url)
    try:
        for process in processes:  # every worker takes runs ...
            await asyncio.to_thread(wait_for_line, process, "is taking runs")
        await asyncio.sleep(3.0)  # ... and the partitions are spread over them
        async with Conveyor(
            settings=settings, workflows=[three_steps], run_workers=False
        ) as app:
            await measure(app, min(300, total), width)  # warm-up
            pids = [process.pid for process in processes]
            before = cpu_snapshot(pids, *servers)
            result = await measure(app, total, width)
            after = cpu_snapshot(pids, *servers)
            for part, used in after.items():
                result[f"cpu_ms_{part}"] = (used - before[part]) * 1000 / total
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            process.communicate(timeout=30)
    return {"workers": workers, **result}


def wait_for_line(process: subprocess.Popen[str], text: str) -> None:
    """Read the process's stderr until a line holds `text`."""
    assert process.stderr is not None
    for line in process.stderr:
        if text in line:
            return
    raise RuntimeError(f"worker exited before saying {text!r}")


def line(label: str, row: dict[str, Any]) -> str:
    """One printed row of the table."""
    return (
        f"{label:<12} p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms  "
        f"{row['workflows_per_s']:7.1f} workflows/s"
    )


def cpu_line(row: dict[str, Any]) -> str:
    """Where the CPU went, per workflow."""
    parts = ("workers", "postgres", "nats", "driver")
    used = "  ".join(f"{part} {row[f'cpu_ms_{part}']:.2f}" for part in parts)
    return f"{'':<12} CPU ms per workflow: {used}"


async def main(
    total: int, width: int, counts: list[int], prepared: bool
) -> dict[str, Any]:
    from conveyor.testing.servers import NatsServer, PostgresServer

    rows: list[dict[str, Any]] = []
    reference = await embedded(total, width)
    print(line("embedded", reference))
    options = "" if prepared else "?prepared_statements=false"
    with PostgresServer() as postgres, NatsServer() as nats:
        assert postgres.pid is not None
        assert nats.pid is not None
        for workers in counts:
            database = postgres.create_database(f"bench_{workers}")
            row = await distributed(
                workers, total, width, database.url + options, nats.url,
                (postgres.pid, nats.pid),
            )  # fmt: skip
            row["vs_embedded"] = row["workflows_per_s"] / reference["workflows_per_s"]
            rows.append(row)
            ratio = row["vs_embedded"]
            print(line(f"{workers} worker(s)", row) + f"  ({ratio:.2f}x embedded)")
            print(cpu_line(row))
    two = next((r for r in rows if r["workers"] == 2), None)
    if two is not None:
        target = TARGET_WORKFLOWS_PER_S_2_WORKERS
        verdict = "meets" if two["workflows_per_s"] >= target else "misses"
        print(f"target >= {target} workflows/s with 2 workers: {verdict}")
    return {
        "embedded": reference,
        "distributed": rows,
        "cpus": os.cpu_count(),
        "prepared_statements": prepared,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument(
        "--unprepared",
        dest="prepared",
        action="store_false",
        help="the store's prepared_statements=false",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    results = asyncio.run(main(args.runs, args.concurrency, counts, args.prepared))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "distributed.json").write_text(json.dumps(results, indent=2) + "\n")
