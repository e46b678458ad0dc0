"""The pytest plugin (entry point `conveyor`): fixtures for testing workflows.

- `virtual_clock`: a `VirtualClock`; pass it to `make_conveyor(clock=...)`.
- `make_conveyor`: a factory of open `Conveyor` apps on temp SQLite stores, all
  closed after the test.
- `postgres_server`, `nats_server`, `temporal_server`, `postgres_database`: real
  servers from the pip wheels (see `conveyor.testing.servers`).
"""

from __future__ import annotations

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


@async_fixture
async def make_conveyor(tmp_path: Path) -> AsyncIterator[ConveyorFactory]:
    """Build open `Conveyor` apps on temp SQLite files: `await make_conveyor(wf,
    agent, clock=..., lease_ttl_s=...)`; keyword arguments are `Settings` fields."""
    apps: list[Conveyor] = []

    async def make(
        *definitions: Workflow[Any] | Agent[Any],
        clock: Clock | None = None,
        run_workers: bool = True,
        **settings: Any,
    ) -> Conveyor:
        settings.setdefault(
            "store_url", f"sqlite:///{tmp_path}/conveyor-{len(apps)}.db"
        )
        app = Conveyor(
            settings=Settings(**settings), clock=clock, run_workers=run_workers
        )
        app.register(*definitions)
        await app.open()
        apps.append(app)
        return app

    yield make
    for app in reversed(apps):
        await app.aclose()
