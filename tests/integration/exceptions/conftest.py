"""Fixtures of the exception platform's end-to-end tests: one cluster per module
(real PostgreSQL and NATS from the test kit, `conveyor worker` processes, the fake
tool services on a real port), shared by its tests to keep the suite quick."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest_asyncio
from exceptions_cluster import Cluster

from conveyor_apps.exceptions.fakes import FakeServer, FakeServices

GROUPS = (("intake", "triage"), ("policy", "playbook"), ("tool",))


@pytest_asyncio.fixture(name="cluster", scope="module", loop_scope="module")
async def fixture_cluster(
    postgres_server: Any, nats_server: Any
) -> AsyncIterator[Cluster]:
    """A database of its own, the fake tools, the API and two workers per stage,
    stages in separate processes (intake+triage, policy+playbook, tool); gone
    after the module."""
    database = postgres_server.create_database(f"exc_{uuid.uuid4().hex[:12]}")
    async with FakeServer(FakeServices()) as fake:
        cluster = Cluster(database.url, nats_server.url, fake)
        try:
            for stages in GROUPS:
                cluster.start_worker(stages)
                cluster.start_worker(stages)
            await cluster.open()
            yield cluster
        finally:
            await cluster.aclose()
            postgres_server.drop_database(database.name)
