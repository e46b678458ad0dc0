"""The pytest plugin (entry point `conveyor`): fixtures for testing workflows.

- `virtual_clock`: a `VirtualClock`; pass it to `make_conveyor(clock=...)`.
- `make_conveyor`: a factory of open `Conveyor` apps on temp SQLite stores, all
  closed after the test.
- `postgres_server`, `nats_server`, `temporal_server`, `postgres_database`: real
  servers from the pip wheels (see `conveyor.testing.servers`);
  `conveyor_database`: a fresh database with conveyor's tables.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ..agents import Agent
from ..app import Conveyor
from ..clock import Clock
from ..settings import Settings
from ..workflows import Workflow
from .clock import VirtualClock
from .server_fixtures import conveyor_database as conveyor_database
from .server_fixtures import conveyor_template as conveyor_template
from .server_fixtures import nats_server as nats_server
from .server_fixtures import postgres_database as postgres_database
from .server_fixtures import postgres_server as postgres_server
from .server_fixtures import temporal_server as temporal_server

ConveyorFactory = Callable[..., Awaitable[Conveyor]]

try:
    from pytest_asyncio import fixture as async_fixture
except ImportError:  # pragma: no cover - depends on the user's environment

    def async_fixture(fn: Any) -> Any:  # type: ignore[no-redef]
        """Without pytest-asyncio the async fixtures say what to install."""

        @pytest.fixture(name=fn.__name__)
        def missing() -> None:
            raise pytest.UsageError(
                f"the {fn.__name__} fixture needs pytest-asyncio: "
                "pip install 'conveyor[testing]'"
            )

        return missing


@async_fixture
async def virtual_clock() -> AsyncIterator[VirtualClock]:
    """A virtual clock that skips idle time (durable sleeps, backoffs, leases)."""
    clock = VirtualClock()
    yield clock
    await clock.aclose()


@pytest.fixture
def conveyor_mode() -> str:
    """The mode `make_conveyor` builds apps in: "embedded" (SQLite, in-process) or
    "distributed" (PostgreSQL, NATS JetStream, worker runner). Override it with a
    parametrized fixture to run tests in both."""
    return "embedded"


@async_fixture
async def make_conveyor(
    tmp_path: Path, conveyor_mode: str, request: pytest.FixtureRequest
) -> AsyncIterator[ConveyorFactory]:
    """Build open `Conveyor` apps: `await make_conveyor(wf, agent, clock=...,
    lease_ttl_s=...)`; keyword arguments are `Settings` fields. Embedded apps get
    temp SQLite files; distributed ones a fresh PostgreSQL database per distinct
    `store_url` and a NATS namespace of their own (apps given the same `store_url`
    share the database and a worker id, as one worker restarted)."""
    apps: list[Conveyor] = []
    distributed = DistributedSetup(request) if conveyor_mode == "distributed" else None

    async def make(
        *definitions: Workflow[Any] | Agent[Any],
        clock: Clock | None = None,
        run_workers: bool = True,
        **settings: Any,
    ) -> Conveyor:
        settings.setdefault(
            "store_url", f"sqlite:///{tmp_path}/conveyor-{len(apps)}.db"
        )
        if distributed is not None:
            settings = distributed.settings(settings)
        app = Conveyor(
            settings=Settings(**settings), clock=clock, run_workers=run_workers
        )
        app.register(*definitions)
        await app.open()
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in reversed(apps):
            await app.aclose()
        if distributed is not None:
            distributed.cleanup()


class DistributedSetup:
    """Databases and a NATS namespace for one test's distributed apps."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self.postgres = request.getfixturevalue("postgres_server")
        self.template = request.getfixturevalue("conveyor_template")
        self.nats = request.getfixturevalue("nats_server")
        self.namespace = f"t{uuid.uuid4().hex[:12]}"
        self.databases: dict[str, str] = {}

    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """`settings` pointed at this test's servers."""
        label = settings["store_url"]
        if label not in self.databases:
            name = f"test_{uuid.uuid4().hex[:16]}"
            created = self.postgres.create_database(name, template=self.template)
            self.databases[label] = created.name
        database = self.databases[label]
        url = self.postgres.url.rsplit("/", 1)[0] + f"/{database}"
        worker = f"worker-{database[5:13]}"
        return {
            "worker_id": worker,
            **settings,
            "store_url": url,
            "bus_url": (
                f"{self.nats.url}?namespace={self.namespace}&partitions=4&pin_ttl=1"
            ),
        }

    def cleanup(self) -> None:
        """Drop the databases."""
        for name in self.databases.values():
            self.postgres.drop_database(name)
