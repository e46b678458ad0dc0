"""The error contract: every error is JSON `{error, message, request_id, details}`
with the request id echoed (or made) in `X-Request-ID`; bodies past the size limit
answer 413 even when chunked; unexpected failures leak nothing."""

from __future__ import annotations

import asyncio
import re
import time

from api_support import start_run, wait_for_status

from conveyor.runs import RunStatus

ERROR_KEYS = {"error", "message", "request_id", "details"}


def _check_error(response, status: int, error: str) -> dict:
    """Assert the status and the error body shape; the body."""
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {response.text}"
    )
    assert response.headers["content-type"] == "application/json", (
        f"expected a JSON error, got {response.headers['content-type']}"
    )
    body = response.json()
    assert set(body) == ERROR_KEYS, f"expected keys {ERROR_KEYS}, got {set(body)}"
    assert body["error"] == error, f"expected error {error}, got {body['error']}"
    assert body["message"], "expected a message"
    header = response.headers["x-request-id"]
    assert body["request_id"] == header, (
        f"expected the body's request id to be the header's {header}, "
        f"got {body['request_id']}"
    )
    return body


async def test_error_body_and_request_id(serve):
    """404, 405, 409, 413 (declared and chunked), 401 and 422 all answer the JSON
    error body; X-Request-ID is echoed when sane and generated otherwise; 422 names
    the field."""
    server = await serve(max_body_bytes=2048)
    async with server.client() as client:
        body = _check_error(await client.get("/nope"), 404, "NotFoundError")
        assert re.fullmatch(r"[0-9a-f]{32}", body["request_id"]), body["request_id"]
        assert "/nope" in body["message"], body["message"]

        echoed = await client.get("/nope", headers={"X-Request-ID": "trace-42"})
        echoed_id = _check_error(echoed, 404, "NotFoundError")["request_id"]
        assert echoed_id == "trace-42", f"expected trace-42 echoed, got {echoed_id}"
        for bad in ("x" * 129, "tab\there", "é"):
            replaced = await client.get(
                "/nope", headers={"X-Request-ID": bad.encode("latin-1")}
            )
            new_id = _check_error(replaced, 404, "NotFoundError")["request_id"]
            assert new_id != bad, f"expected a fresh id instead of {bad!r}"
        ok = await client.get("/healthz", headers={"X-Request-ID": "on-success"})
        assert ok.headers["x-request-id"] == "on-success", "echoed on success too"

        body = _check_error(
            await client.delete("/v1/runs"), 405, "MethodNotAllowedError"
        )
        missing_run = await client.get("/v1/runs/not-a-run")
        body = _check_error(missing_run, 404, "RunNotFoundError")
        assert "not-a-run" in body["message"], body["message"]

        invalid = await client.post("/v1/runs", json={"workflow": 5, "input": None})
        body = _check_error(invalid, 422, "ValidationFailedError")
        assert body["details"][0]["field"] == "body.workflow", body["details"]
        assert body["message"].startswith("body.workflow"), body["message"]
        not_json = await client.post(
            "/v1/runs", content=b"{", headers={"Content-Type": "application/json"}
        )
        _check_error(not_json, 422, "ValidationFailedError")
        engine_422 = await client.post(
            "/v1/runs", json={"workflow": "greet", "input": {"name": "x", "times": "z"}}
        )
        body = _check_error(engine_422, 422, "ValidationFailedError")
        assert body["details"] == [
            {"field": "body.input.times", "problem": body["details"][0]["problem"]}
        ], body["details"]

        big = {"workflow": "three_steps", "input": "x" * 4096}
        body = _check_error(
            await client.post("/v1/runs", json=big), 413, "PayloadTooLargeError"
        )
        assert body["details"]["max_bytes"] == 2048, body["details"]

        async def chunks():
            yield b'{"workflow": "three_steps", "input": "'
            for _ in range(8):
                yield b"x" * 512
            yield b'"}'

        chunked = await client.post(
            "/v1/runs", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert "content-length" not in chunked.request.headers, "expected chunked"
        _check_error(chunked, 413, "PayloadTooLargeError")

        run_id = await start_run(client, "three_steps", 1)
        await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
        conflict = await client.post(f"/v1/runs/{run_id}/cancel")
        body = _check_error(conflict, 409, "IllegalTransitionError")
        assert body["details"] == {"from": "completed", "to": "cancelled"}, body

    async with server.client(None) as anonymous:
        _check_error(await anonymous.get("/v1/runs"), 401, "AuthenticationError")


async def test_unexpected_errors_answer_500_without_details(server, client):
    """An unexpected exception answers 500 InternalError with the request id and
    without the exception's message."""

    async def boom() -> None:
        raise RuntimeError("secret database password in /srv/app.py")

    server.app.add_api_route("/boom", boom)
    response = await client.get("/boom", headers={"X-Request-ID": "req-500"})
    body = _check_error(response, 500, "InternalError")
    assert "secret" not in response.text, f"expected nothing leaked: {response.text}"
    assert body["request_id"] == "req-500", body


async def test_submissions_beyond_the_tenant_rate_answer_429(serve):
    """Over its submission rate (and allowed no wait) a tenant gets 429 with
    `Retry-After` and the wait in the body, before anything is stored; another
    tenant is not held back, and the tenant may submit again once the wait is
    over."""
    server = await serve(
        tenant_submit_rate=5, tenant_submit_burst=2, tenant_submit_wait_s=0
    )
    async with server.client("acme") as acme, server.client("globex") as globex:
        first = [await start_run(acme, "three_steps", n) for n in range(2)]
        refused = await acme.post(
            "/v1/runs", json={"workflow": "three_steps", "input": 9}
        )
        body = _check_error(refused, 429, "RateLimitedError")
        assert refused.headers["retry-after"] == "1", refused.headers
        details = body["details"]
        assert details["tenant"] == "acme" and details["limit_per_s"] == 5
        assert 0 < details["retry_after_s"] <= 0.2, details
        assert "acme" in body["message"], body["message"]
        await start_run(globex, "three_steps", 1)
        listed = (await acme.get("/v1/runs")).json()["items"]
        assert sorted(run["run_id"] for run in listed) == sorted(first), (
            "the refused submission stored nothing"
        )
        await asyncio.sleep(details["retry_after_s"])
        await start_run(acme, "three_steps", 9)


async def test_submissions_over_the_rate_are_held_for_their_turn(serve):
    """With room to wait, submissions over the rate are held and spaced at the
    rate instead of refused: six at once at 20/s with a burst of 2 take about
    0.2 s, all accepted; past the wait allowed, 429."""
    server = await serve(
        tenant_submit_rate=20, tenant_submit_burst=2, tenant_submit_wait_s=0.3
    )
    async with server.client("acme") as acme:
        began = time.perf_counter()
        await asyncio.gather(*(start_run(acme, "three_steps", n) for n in range(6)))
        elapsed = time.perf_counter() - began
        assert 0.18 <= elapsed < 1.0, f"six submissions took {elapsed:.3f} s"
        answers = await asyncio.gather(
            *(
                acme.post("/v1/runs", json={"workflow": "three_steps", "input": n})
                for n in range(12)
            )
        )
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses.count(202) <= 8 and statuses[-1] == 429, statuses
