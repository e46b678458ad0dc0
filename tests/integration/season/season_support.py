"""Shared pieces of the season integration tests: the served app and its clients,
reading the planner's WebSocket stream, and checking plans."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from conveyor.testing import LocalServer
from conveyor_apps.season import SeasonOrchestrator, SeasonPlan
from conveyor_apps.season.connections import ConnectionManager

MESSAGE_FIELDS = {"type", "timestamp", "session_id"}
MULTIPLIERS = {"none": 1.25, "bi-weekly": 1.22, "weekly": 1.20}


@dataclass(frozen=True, slots=True)
class SeasonServer:
    """A running server and the orchestrator installed on it."""

    live: LocalServer
    orchestrator: SeasonOrchestrator
    app: FastAPI

    @property
    def connections(self) -> ConnectionManager:
        """The app's WebSocket connection manager."""
        manager: ConnectionManager = self.app.state.season_connections
        return manager

    def client(self, api_key: str | None = None) -> httpx.AsyncClient:
        """An HTTP client of the server (sending `api_key` when given)."""
        headers = {"X-API-Key": api_key} if api_key else {}
        return httpx.AsyncClient(base_url=self.live.url, headers=headers, timeout=30)

    def stream(self, session_id: str, api_key: str | None = None) -> Any:
        """A WebSocket connection to the session's stream (`async with`)."""
        query = f"?api_key={api_key}" if api_key else ""
        url = self.live.ws_url(f"/ws/orchestrator/{session_id}{query}")
        return connect(url, ping_interval=None, open_timeout=10)


async def next_message(ws: ClientConnection) -> dict[str, Any]:
    """The next message, parsed, checked for the fields every message has."""
    message: dict[str, Any] = json.loads(await ws.recv())
    missing = MESSAGE_FIELDS - set(message)
    assert not missing, (
        f"expected fields {sorted(MESSAGE_FIELDS)}, {message} lacks {missing}"
    )
    return message


async def until_connected(ws: ClientConnection) -> dict[str, Any]:
    """Wait for the `connected` message that says the stream is live."""
    message = await next_message(ws)
    assert message["type"] == "connected", f"expected connected first, got {message}"
    return message


async def read_until(
    ws: ClientConnection, *types: str, limit: int = 500
) -> list[dict[str, Any]]:
    """Messages up to and including the first of one of `types`."""
    messages: list[dict[str, Any]] = []
    while len(messages) < limit:
        message = await next_message(ws)
        messages.append(message)
        if message["type"] in types:
            return messages
    raise AssertionError(f"expected one of {types} within {limit} messages")


def run_workflow_body(
    strategy: str, category: str = "CAT001", **fields: Any
) -> dict[str, Any]:
    """The JSON body of POST /api/orchestrator/run-workflow."""
    return {"strategy_description": strategy, "category_id": category, **fields}


def check_plan(plan: SeasonPlan, horizon: int, replenishment: str) -> None:
    """The invariants every plan keeps, whatever the forecast."""
    forecast, inventory = plan.forecast, plan.inventory
    expected = MULTIPLIERS[replenishment]
    assert forecast.safety_stock_multiplier == expected, (
        f"expected multiplier {expected}, got {forecast.safety_stock_multiplier}"
    )
    assert len(forecast.weekly_curve) == horizon, (
        f"expected {horizon} weekly points, got {len(forecast.weekly_curve)}"
    )
    assert "Fashion_Forward" in forecast.clusters, (
        f"expected a Fashion_Forward cluster, got {sorted(forecast.clusters)}"
    )
    assert inventory.forecast_received == forecast.total_units, (
        f"expected forecast_received {forecast.total_units}, "
        f"got {inventory.forecast_received}"
    )
    assert (
        inventory.dc_holdback_qty + inventory.initial_allocation_qty
        == inventory.manufacturing_qty
    ), f"expected holdback + allocation = manufacturing, got {inventory}"
    assert sum(inventory.cluster_allocations.values()) == (
        inventory.initial_allocation_qty
    ), f"expected cluster allocations to add up, got {inventory.cluster_allocations}"


async def read_to_close(ws: ClientConnection) -> list[dict[str, Any]]:
    """Every message until the server closes the connection."""
    messages: list[dict[str, Any]] = []
    try:
        while True:
            messages.append(await next_message(ws))
    except ConnectionClosed:
        return messages


async def assert_silent(ws: ClientConnection, seconds: float) -> None:
    """Nothing arrives on `ws` for `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            leaked = await ws.recv()
    except TimeoutError:
        return
    raise AssertionError(f"expected no message, got {leaked!r}")
