"""The distributed exception platform for tests: `conveyor worker` processes on a
fresh PostgreSQL database and NATS namespace, an API-only engine with the routes in
this process (a real uvicorn on a loopback port), and the fake tool services."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from conveyor import Conveyor, Settings
from conveyor.testing import LocalServer, wait_until
from conveyor_apps.exceptions import ToolSettings
from conveyor_apps.exceptions.config import ExceptionsSettings
from conveyor_apps.exceptions.fakes import FakeServer
from conveyor_apps.exceptions.mount import create_exceptions_app
from conveyor_apps.exceptions.platform import ExceptionPlatform

HERE = Path(__file__).parent
KEYS = {
    "acme": "acme-demo-key",
    "globex": "globex-demo-key",
    "initech": "initech-demo-key",
}
DONE = frozenset({"resolved", "notified", "needs_approval", "dead_lettered"})
ENGINE = {"CONVEYOR_LEASE_TTL_S": "2", "CONVEYOR_HEARTBEAT_S": "0.5"}
TOOLS = {
    "EXCEPTIONS_TOOL_ATTEMPTS": "3",
    "EXCEPTIONS_TOOL_BACKOFF_S": "0.05",
    "EXCEPTIONS_POOL_SIZE": "2",
}
POOL = "pool_size=4&max_overflow=4"  # seven processes share the test server


def headers(tenant: str) -> dict[str, str]:
    """The API key header of a tenant."""
    return {"X-API-Key": KEYS[tenant]}


def report(n: int, **fields: Any) -> dict[str, Any]:
    """A valid report, distinct per `n` (a failed payments batch by default:
    triaged payments/high, so acme's policy remediates it with two tools)."""
    body: dict[str, Any] = {
        "source": "billing",
        "kind": "nightly_batch_failed",
        "message": f"Batch {n} failed: card network unreachable",
        "occurred_at": "2025-03-01T10:00:00+00:00",
        "attributes": {"job_id": f"job-{n}"},
    }
    body.update(fields)
    return body


class Worker:
    """One `conveyor worker` process and the stages it takes."""

    def __init__(
        self, process: subprocess.Popen[bytes], worker_id: str, stages: Sequence[str]
    ) -> None:
        self.process = process
        self.worker_id = worker_id
        self.stages = tuple(stages)

    def kill(self) -> None:
        """SIGKILL: no drain, no lease release."""
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)


class Cluster:
    """Workers, an API and the fake tools on one database and NATS namespace."""

    def __init__(self, store_url: str, nats_url: str, fake: FakeServer) -> None:
        self.database_url = store_url
        self.store_url = f"{store_url}?{POOL}"
        namespace = f"x{uuid.uuid4().hex[:10]}"
        self.bus_url = f"{nats_url}?namespace={namespace}&partitions=4&pin_ttl=1"
        self.fake = fake
        self.workers: list[Worker] = []
        self.api: Conveyor | None = None
        self.server: LocalServer | None = None
        self.client: httpx.AsyncClient | None = None
        self.platform: ExceptionPlatform | None = None

    def env(self) -> dict[str, str]:
        """The environment of every process of the cluster."""
        return {
            **os.environ,
            **ENGINE,
            **TOOLS,
            "CONVEYOR_STORE_URL": self.store_url,
            "CONVEYOR_BUS_URL": self.bus_url,
            "EXCEPTIONS_TOOLS_BASE_URL": self.fake.url,
        }

    def start_worker(self, stages: Sequence[str] = ()) -> Worker:
        """Start `conveyor worker --stage …` taking `stages` (all when empty)."""
        worker_id = f"w-{uuid.uuid4().hex[:8]}"
        argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
        argv += ["--drain-timeout", "3"]
        for stage in stages:
            argv += ["--stage", stage]
        env = {**self.env(), "CONVEYOR_WORKER_ID": worker_id}
        process = subprocess.Popen(
            argv, cwd=HERE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        worker = Worker(process, worker_id, stages)
        self.workers.append(worker)
        return worker

    async def open(self) -> None:
        """Start the API (dispatches; never executes)."""
        settings = Settings(
            store_url=self.store_url, bus_url=self.bus_url, lease_ttl_s=2,
            heartbeat_s=0.5,
        )  # fmt: skip
        self.api = Conveyor(settings=settings, run_workers=False)
        app = create_exceptions_app(
            self.api,
            exceptions_settings=ExceptionsSettings(metrics_refresh_s=0.5, pool_size=2),
            tool_settings=ToolSettings(base_url=self.fake.url),
        )
        self.platform = app.state.exceptions
        self.server = LocalServer(app, lifespan="on")
        await self.server.start()
        self.client = httpx.AsyncClient(base_url=self.server.url, timeout=30)

    async def aclose(self) -> None:
        """Stop the API, then the workers (SIGTERM, then SIGKILL)."""
        if self.client is not None:
            await self.client.aclose()
        if self.server is not None:
            await self.server.aclose()
        for worker in self.workers:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                await asyncio.to_thread(worker.process.wait, 15)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            if worker.process.stderr is not None:
                worker.process.stderr.close()

    # the API -----------------------------------------------------------------------
    @property
    def http(self) -> httpx.AsyncClient:
        """The HTTP client of the API."""
        assert self.client is not None
        return self.client

    async def post(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        """Report an exception; asserts the 202."""
        answer = await self.http.post("/exceptions", json=body, headers=headers(tenant))
        assert answer.status_code == 202, (
            f"expected 202, got {answer.status_code}: {answer.text}"
        )
        found: dict[str, Any] = answer.json()
        return found

    async def get(self, tenant: str, exception_id: str) -> httpx.Response:
        """`GET /exceptions/{id}` as `tenant`."""
        return await self.http.get(
            f"/exceptions/{exception_id}", headers=headers(tenant)
        )

    async def settled(
        self,
        tenant: str,
        exception_id: str,
        events: int = 1,
        timeout: float = 60,  # noqa: ASYNC109 - polls with wait_until's deadline
        ends: frozenset[str] = DONE,
    ) -> dict[str, Any]:
        """The exception once `events` events have all reached one of `ends`."""

        async def done() -> dict[str, Any] | None:
            answer = await self.get(tenant, exception_id)
            if answer.status_code != 200:
                return None
            body: dict[str, Any] = answer.json()
            ended = [e for e in body["events"] if e["status"] in ends]
            return body if len(ended) >= events and not body["pending_events"] else None

        found: dict[str, Any] = await wait_until(
            done, timeout=timeout, interval_s=0.1,
            message=f"exception {exception_id} to settle ({events} events)",
        )  # fmt: skip
        return found

    # the database ------------------------------------------------------------------
    async def sql(self, query: str, *args: Any) -> list[Any]:
        """Rows of one query on the cluster's database."""
        conn = await asyncpg.connect(self.database_url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    def worker_of(self, owner: str) -> Worker:
        """The worker process with this worker id."""
        return next(w for w in self.workers if w.worker_id == owner)
