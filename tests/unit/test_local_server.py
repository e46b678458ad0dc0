"""The test kit's LocalServer serves an app on a real loopback port."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from conveyor.testing import LocalServer


async def test_local_server_serves_and_frees_its_port():
    """Requests reach the app over real HTTP; after closing, nothing listens."""
    api = FastAPI()

    @api.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    async with LocalServer(api) as server:
        async with httpx.AsyncClient(base_url=server.url) as client:
            answer = await client.get("/ping")
        assert answer.json() == {"pong": "yes"}, f"got {answer.text}"
        assert server.ws_url("/ws") == f"ws://127.0.0.1:{server.port}/ws"
    async with httpx.AsyncClient(base_url=server.url) as client:
        try:
            await client.get("/ping")
        except httpx.ConnectError:
            pass
        else:
            raise AssertionError("the port still answers after aclose")
