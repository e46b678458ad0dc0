"""Who may do what: API keys map to tenants, another tenant's data answers 404 on
every surface (HTTP, SSE, WebSocket), WebSocket handshakes check Origin, replay
needs the admin key, and keys never reach the logs."""

from __future__ import annotations

import logging

import pytest
from api_support import ADMIN_KEY, KEYS, start_run, wait_for_status
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from conveyor.logs import REDACTED
from conveyor.runs import RunStatus

KEYS_HEADER = {"X-API-Key": KEYS["acme"]}


async def _ws_status(url: str, headers: dict[str, str] | None = None, **kw) -> int:
    """The HTTP status a WebSocket handshake is refused with."""
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url, additional_headers=headers or {}, **kw):
            pass
    return refused.value.response.status_code


async def test_tenant_isolation_api(server, client):
    """Tenant B cannot get, list, cancel, signal, query or stream (SSE and WebSocket)
    tenant A's run — each answers 404 — and calls without a valid key answer 401."""
    run_id = await start_run(client, "waits_for_go")
    await wait_for_status(server.conveyor, run_id, RunStatus.RUNNING)
    base = f"/v1/runs/{run_id}"
    async with server.client("globex") as other:
        for method, path, body in (
            ("GET", base, None),
            ("POST", f"{base}/cancel", None),
            ("POST", f"{base}/signals/go", {"payload": 1}),
            ("GET", f"{base}/query/stage", None),
            ("GET", f"{base}/events", None),
        ):
            response = await other.request(method, path, json=body)
            assert response.status_code == 404, (
                f"expected 404 for {method} {path} as another tenant, "
                f"got {response.status_code}"
            )
            assert response.json()["error"] == "RunNotFoundError", response.json()
        listed = (await other.get("/v1/runs")).json()["items"]
        assert listed == [], f"expected globex to see no runs, got {listed}"
        own = await start_run(other, "three_steps", 1)
    mine = [item["run_id"] for item in (await client.get("/v1/runs")).json()["items"]]
    assert mine == [run_id], f"expected acme to list only its run, got {mine}"

    ws = server.ws_url(f"{base}/ws")
    as_globex = {"X-API-Key": KEYS["globex"]}
    assert await _ws_status(ws, as_globex) == 404, "expected 404 for a foreign run"
    query_key = f"{ws}?api_key={KEYS['globex']}"
    assert await _ws_status(query_key) == 404, "expected 404 with a query key too"
    assert await _ws_status(ws) == 401, "expected 401 without a key"
    assert await _ws_status(ws, {"X-API-Key": "wrong"}) == 401, "expected 401"
    status = await _ws_status(server.ws_url(f"/v1/runs/{own}/ws"), KEYS_HEADER)
    assert status == 404, f"expected 404 for globex's run as acme, got {status}"

    async with server.client(None) as anonymous:
        for path in ("/v1/runs", base, "/v1/dead-letters", f"{base}/events"):
            response = await anonymous.get(path)
            assert response.status_code == 401, (
                f"expected 401 for {path} without a key, got {response.status_code}"
            )
            assert response.json()["error"] == "AuthenticationError", response.json()
        wrong = await anonymous.get("/v1/runs", headers={"X-API-Key": "nope"})
        assert wrong.status_code == 401, f"expected 401, got {wrong.status_code}"
    stage = await client.get(f"{base}/query/stage")
    assert stage.json()["value"] == "waiting", "the foreign calls changed nothing"
    run = (await client.get(base)).json()
    assert not run["cancel_requested"], f"expected no cancel request: {run}"


async def test_dead_letters_are_tenant_scoped(server, client):
    """Another tenant cannot list, read or replay a tenant's dead letter (404)."""
    run_id = await start_run(client, "fails", "x")
    await wait_for_status(server.conveyor, run_id, RunStatus.DEAD)
    letter = (await client.get("/v1/dead-letters")).json()["items"][0]
    async with server.client("globex") as other:
        seen = (await other.get("/v1/dead-letters")).json()["items"]
        assert seen == [], f"expected globex to list no dead letters, got {seen}"
        got = await other.get(f"/v1/dead-letters/{letter['id']}")
        assert got.status_code == 404, f"expected 404, got {got.status_code}"
        replay = await other.post(
            f"/v1/dead-letters/{letter['id']}/replay",
            headers={"X-Admin-Key": ADMIN_KEY},
        )
        assert replay.status_code == 404, f"expected 404, got {replay.status_code}"


async def test_websocket_origin_is_checked(serve):
    """A handshake from a page on another origin is refused (403) unless listed;
    same-host pages and clients without Origin are accepted."""
    server = await serve(allowed_origins="https://app.example")
    async with server.client() as client:
        run_id = await start_run(client, "three_steps", 1)
        await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
    url = server.ws_url(f"/v1/runs/{run_id}/ws")
    evil = await _ws_status(url, KEYS_HEADER, origin="https://evil.example")
    assert evil == 403, f"expected 403 for a foreign origin, got {evil}"
    for origin in ("https://app.example", server.url, None):
        async with connect(url, additional_headers=KEYS_HEADER, origin=origin) as ws:
            first = await ws.recv()
            assert '"seq":1' in first, f"expected the first event for {origin}"


async def test_replay_needs_the_admin_key(server, client):
    """With an admin key configured, replay without it or with a wrong one answers
    403; with it, 202 and the run resumes."""
    run_id = await start_run(client, "fails", "x")
    await wait_for_status(server.conveyor, run_id, RunStatus.DEAD)
    letter_id = (await client.get("/v1/dead-letters")).json()["items"][0]["id"]
    path = f"/v1/dead-letters/{letter_id}/replay"
    for headers in ({}, {"X-Admin-Key": "wrong"}):
        refused = await client.post(path, headers=headers)
        assert refused.status_code == 403, f"expected 403, got {refused.status_code}"
        assert refused.json()["error"] == "PermissionDeniedError", refused.json()
    replayed = await client.post(path, headers={"X-Admin-Key": ADMIN_KEY})
    assert replayed.status_code == 202, f"expected 202, got {replayed.status_code}"


async def test_open_mode_without_keys(serve):
    """Without configured keys the API is open and every caller is tenant
    "default"."""
    server = await serve(api_keys="", admin_key="")
    async with server.client(None) as client:
        run_id = await start_run(client, "three_steps", 1)
        run = await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
        assert run.tenant == "default", f"expected tenant default, got {run.tenant}"
        async with connect(server.ws_url(f"/v1/runs/{run_id}/ws")) as ws:
            assert '"seq":1' in await ws.recv(), "expected the stream to open"


def test_keys_are_redacted_from_server_logs(caplog):
    """A key passed in a WebSocket URL never appears in the server's log lines."""
    from conveyor.api.redaction import install_key_redaction

    install_key_redaction()
    secret = KEYS["acme"]
    with caplog.at_level(logging.INFO, logger="uvicorn.error"):
        logging.getLogger("uvicorn.error").info(
            '%s - "WebSocket %s" [accepted]', "127.0.0.1:1", f"/v1/x?api_key={secret}"
        )
    assert secret not in caplog.text, "expected the key redacted from the log"
    assert REDACTED in caplog.text, f"expected {REDACTED} in {caplog.text!r}"
