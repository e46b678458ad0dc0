"""Worker queues in distributed mode: `conveyor worker --queue NAME` processes
take only the runs of workflows on their queues."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import queue_app

from conveyor import Conveyor, Settings

HERE = Path(__file__).parent
pytestmark = pytest.mark.slow


@pytest.fixture(name="bus_url")
def fixture_bus_url(nats_server: Any) -> str:
    """A NATS namespace of the test's own."""
    return (
        f"{nats_server.url}?namespace=q{uuid.uuid4().hex[:10]}&partitions=2&pin_ttl=1"
    )


@pytest.fixture(name="start_worker")
def fixture_start_worker(postgres_database: Any, bus_url: str) -> Iterator[Any]:
    """Start `conveyor worker --queue …` processes (stopped after the test)."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*queues: str) -> subprocess.Popen[bytes]:
        argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
        argv += ["--app", "queue_app:make_app", "--drain-timeout", "2"]
        for queue in queues:
            argv += ["--queue", queue]
        env = {
            **os.environ,
            "CONVEYOR_STORE_URL": postgres_database.url,
            "CONVEYOR_BUS_URL": bus_url,
            "CONVEYOR_WORKER_ID": "-".join(queues) or "all",
        }
        process = subprocess.Popen(
            argv, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


async def test_workers_take_only_their_queues(
    start_worker: Any, postgres_database: Any, bus_url: str
) -> None:
    """Runs of a workflow on queue `alpha` execute only on the `--queue alpha`
    worker, runs on `beta` only on the `--queue beta` one."""
    start_worker("alpha")
    start_worker("beta")
    settings = Settings(store_url=postgres_database.url, bus_url=bus_url)
    api = Conveyor(
        settings=settings,
        run_workers=False,
        workflows=[queue_app.on_alpha, queue_app.on_beta],
    )
    await api.open()
    try:
        handles = [await api.start("on_alpha", n) for n in range(4)]
        handles += [await api.start("on_beta", n) for n in range(4)]
        results = await asyncio.gather(*(h.result(timeout_s=60) for h in handles))
    finally:
        await api.aclose()
    ran = [r["worker"] for r in results]
    assert ran == ["alpha"] * 4 + ["beta"] * 4, (
        f"expected each queue's worker, got {ran}"
    )


def test_worker_refuses_an_unknown_queue(postgres_database: Any, bus_url: str) -> None:
    """`conveyor worker --queue nosuch` says no workflow is on that queue and exits
    with the usage code."""
    argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
    argv += ["--app", "queue_app:make_app", "--queue", "nosuch"]
    env = {
        **os.environ,
        "CONVEYOR_STORE_URL": postgres_database.url,
        "CONVEYOR_BUS_URL": bus_url,
    }
    done = subprocess.run(argv, cwd=HERE, env=env, capture_output=True, timeout=60)
    assert done.returncode == 2, f"expected exit 2, got {done.returncode}"
    assert b"nosuch" in done.stderr, done.stderr
