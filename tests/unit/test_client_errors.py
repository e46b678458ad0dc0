"""`ConveyorClient` translates what the server (or the network) says at its boundary:
error bodies become `ClientError`, transport failures name the URL."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from conveyor.cli.exits import ExitCode, for_error
from conveyor.client import (
    ClientError,
    ConveyorClient,
    RequestTimeoutError,
    ServerUnreachableError,
)
from conveyor.errors import ConveyorError

BASE = "http://conveyor.test:8000"
Handler = Callable[[httpx.Request], httpx.Response]


def make_client(handler: Handler, **kwargs: str) -> ConveyorClient:
    return ConveyorClient(BASE, transport=httpx.MockTransport(handler), **kwargs)


async def test_error_body_becomes_client_error() -> None:
    """A JSON error body gives a ClientError carrying status, type, message and
    request id."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            404,
            json={
                "error": "RunNotFoundError",
                "message": "run 'nope' not found",
                "request_id": "req-1",
                "details": None,
            },
        )

    async with make_client(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.get_run("nope")
    error = caught.value
    assert (error.status, error.error, error.message, error.request_id) == (
        404,
        "RunNotFoundError",
        "run 'nope' not found",
        "req-1",
    ), f"unexpected translation: {error!r}"
    assert isinstance(error, ConveyorError), "ClientError should be a ConveyorError"
    assert for_error(error) is ExitCode.NOT_FOUND, "404 should map to exit code 4"


async def test_validation_details_are_kept() -> None:
    """The details of a 422 survive translation and map to the usage exit code."""
    problems = [{"field": "input.name", "problem": "Field required"}]

    def handler(request: httpx.Request) -> httpx.Response:
        body = {
            "error": "ValidationFailedError",
            "message": "input.name: Field required",
            "request_id": "req-2",
            "details": problems,
        }
        return httpx.Response(422, json=body)

    async with make_client(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.start_run("hello", {})
    assert caught.value.error_details == problems, "details should be passed through"
    assert caught.value.details()["details"] == problems, "details() should hold them"
    assert for_error(caught.value) is ExitCode.USAGE, "422 should map to exit code 2"


async def test_non_json_error_uses_status_and_request_id_header() -> None:
    """An error without a JSON body (a proxy's 502) still becomes a ClientError
    with the status, the text and the X-Request-ID header."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            502, text="Bad Gateway from proxy", headers={"X-Request-ID": "req-3"}
        )

    async with make_client(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.list_runs()
    error = caught.value
    assert (error.status, error.error, error.request_id) == (502, "HTTP502", "req-3")
    assert "Bad Gateway from proxy" in error.message, f"got {error.message!r}"
    assert for_error(error) is ExitCode.UNAVAILABLE, "5xx should map to exit code 5"


async def test_success_body_that_is_not_an_object_is_refused() -> None:
    """A 200 whose body is not a JSON object is reported, not returned."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>hello</html>")

    async with make_client(handler) as client:
        with pytest.raises(ClientError) as caught:
            await client.get_run("r1")
    assert caught.value.error == "InvalidResponse", f"got {caught.value!r}"


async def test_connection_failure_names_the_url() -> None:
    """When nothing answers, the error says which URL could not be reached."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("Connection refused", request=request)

    async with make_client(handler) as client:
        with pytest.raises(ServerUnreachableError) as caught:
            await client.get_run("r1")
    assert BASE in str(caught.value), f"URL missing from {caught.value}"
    assert caught.value.status is None, "no HTTP status without a response"
    assert for_error(caught.value) is ExitCode.UNAVAILABLE, "should map to exit 5"


async def test_timeout_is_a_timeout_error() -> None:
    """A request that gets no answer in time raises RequestTimeoutError, which is
    also a TimeoutError (exit code 6)."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    async with make_client(handler) as client:
        with pytest.raises(RequestTimeoutError) as caught:
            await client.get_run("r1")
    assert isinstance(caught.value, TimeoutError), "should be a TimeoutError"
    assert for_error(caught.value) is ExitCode.TIMED_OUT, "should map to exit 6"


async def test_requests_carry_keys_and_escape_ids() -> None:
    """The API key goes on every request, the admin key on replay only, unset
    optional fields are left out, and ids are escaped into one path segment."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/v1/runs":
            return httpx.Response(202, json={"run_id": "r1", "created": True})
        return httpx.Response(202, json={"run_id": "r1", "status": "pending"})

    async with make_client(handler, api_key="k1", admin_key="adm") as client:
        await client.start_run("hello", {"name": "x"}, key="k")
        await client.replay("a/b")
    start, replay = seen
    assert json.loads(start.content) == {
        "workflow": "hello",
        "input": {"name": "x"},
        "key": "k",
    }, f"unexpected body {start.content!r}"
    assert start.headers["X-API-Key"] == "k1", "API key header missing"
    assert "X-Admin-Key" not in start.headers, "admin key sent where not needed"
    assert replay.headers["X-Admin-Key"] == "adm", "admin key missing on replay"
    assert replay.url.raw_path == b"/v1/dead-letters/a%2Fb/replay", (
        f"id not escaped: {replay.url.raw_path!r}"
    )
