"""Fixtures for the HTTP API tests: an engine on a temp SQLite file with the test
workflows, served by a real uvicorn server on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest_asyncio
from api_support import ADMIN_KEY, KEYS, WORKFLOWS, LiveServer, ServerFactory

from conveyor.api import create_app
from conveyor.app import Conveyor
from conveyor.settings import Settings


@pytest_asyncio.fixture(name="serve")
async def fixture_serve(tmp_path: Path) -> AsyncIterator[ServerFactory]:
    """Start servers: `await serve(max_ws_queue=8)`; keyword arguments are
    `Settings` fields (API keys for acme and globex and an admin key by default),
    `send_buffer_bytes` fixes the socket send buffer of accepted connections."""
    started: list[LiveServer] = []

    async def serve(
        *, send_buffer_bytes: int | None = None, **overrides: Any
    ) -> LiveServer:
        fields: dict[str, Any] = {
            "store_url": f"sqlite:///{tmp_path}/api-{len(started)}.db",
            "api_keys": ",".join(f"{t}:{k}" for t, k in KEYS.items()),
            "admin_key": ADMIN_KEY,
        }
        fields.update(overrides)
        conveyor = Conveyor(settings=Settings(**fields), workflows=WORKFLOWS)
        await conveyor.open()
        server = LiveServer(create_app(conveyor), conveyor, send_buffer_bytes)
        started.append(server)
        await server.start()
        return server

    yield serve
    for server in reversed(started):
        with contextlib.suppress(Exception):
            await server.aclose()
        await server.conveyor.aclose()


@pytest_asyncio.fixture(name="server")
async def fixture_server(serve: ServerFactory) -> LiveServer:
    """A server with the default test settings."""
    return await serve()


@pytest_asyncio.fixture(name="client")
async def fixture_client(server: LiveServer) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of tenant acme."""
    async with server.client("acme") as client:
        yield client
