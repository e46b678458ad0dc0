"""Runs over HTTP: start (with idempotency), read, list with pagination, cancel,
signal and query."""

from __future__ import annotations

from api_support import start_run, wait_for_status

from conveyor.runs import RunStatus


async def test_start_run_returns_202_with_links(server, client):
    """Starting a run answers 202 with the run id, its status and links to it."""
    response = await client.post(
        "/v1/runs", json={"workflow": "three_steps", "input": 1, "session_id": "s-1"}
    )
    assert response.status_code == 202, f"expected 202, got {response.status_code}"
    body = response.json()
    run_id = body["run_id"]
    assert body["created"] is True, f"expected created=true, got {body}"
    assert body["links"] == {
        "self": f"/v1/runs/{run_id}",
        "events": f"/v1/runs/{run_id}/events",
        "ws": f"/v1/runs/{run_id}/ws",
        "cancel": f"/v1/runs/{run_id}/cancel",
    }, f"unexpected links {body['links']}"
    run = await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
    assert run.output == 4, f"expected output 4, got {run.output}"
    got = (await client.get(f"/v1/runs/{run_id}")).json()
    summary = (got["status"], got["output"], got["session_id"])
    assert summary == ("completed", 4, "s-1"), f"unexpected run {got}"
    assert "tenant" not in got, "the tenant is server-side only"


async def test_same_idempotency_key_returns_the_first_run(client):
    """Submitting with an idempotency key again answers 200 with the same run id and
    created=false."""
    body = {"workflow": "three_steps", "input": 1, "idempotency_key": "order-1"}
    first = await client.post("/v1/runs", json=body)
    again = await client.post("/v1/runs", json={**body, "input": 5})
    assert (first.status_code, again.status_code) == (202, 200), (
        f"expected 202 then 200, got {first.status_code} then {again.status_code}"
    )
    assert again.json()["run_id"] == first.json()["run_id"], "expected the same run"
    assert again.json()["created"] is False, f"expected created=false: {again.json()}"


async def test_start_refuses_bad_requests(client):
    """Unknown workflows answer 404; invalid input and server-owned or unknown fields
    answer 422 naming the field."""
    missing = await client.post("/v1/runs", json={"workflow": "nope"})
    assert missing.status_code == 404, f"expected 404, got {missing.status_code}"
    assert missing.json()["error"] == "WorkflowNotFoundError", missing.json()
    bad = await client.post("/v1/runs", json={"workflow": "greet", "input": {}})
    assert bad.status_code == 422, f"expected 422, got {bad.status_code}"
    assert bad.json()["details"][0]["field"] == "body.input.name", bad.json()
    for field, value in (("tenant", "globex"), ("status", "completed"), ("x", 1)):
        sneaky = await client.post(
            "/v1/runs", json={"workflow": "three_steps", "input": 1, field: value}
        )
        assert sneaky.status_code == 422, (
            f"expected 422 for {field}, got {sneaky.status_code}"
        )
        fields = [item["field"] for item in sneaky.json()["details"]]
        assert fields == [f"body.{field}"], f"expected body.{field}, got {fields}"


async def test_list_runs_filters_and_paginates(server, client):
    """Listing is newest first, filtered by workflow/status/key/session, and pages
    through every run exactly once with next_cursor."""
    ids = [await start_run(client, "three_steps", i, key="k") for i in range(5)]
    greeting = await start_run(client, "greet", {"name": "x"}, session_id="s")
    for run_id in [*ids, greeting]:
        await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
    seen: list[str] = []
    cursor = None
    while True:
        params = {"workflow": "three_steps", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/runs", params=params)).json()
        seen += [item["run_id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1], f"expected newest first {ids[::-1]}, got {seen}"
    by_session = (await client.get("/v1/runs", params={"session_id": "s"})).json()
    session_ids = [item["run_id"] for item in by_session["items"]]
    assert session_ids == [greeting], f"expected [{greeting}], got {session_ids}"
    pending = await client.get("/v1/runs", params={"status": "pending"})
    assert pending.json()["items"] == [], f"expected none pending: {pending.json()}"
    keyed = await client.get("/v1/runs", params={"key": "k", "limit": 200})
    assert len(keyed.json()["items"]) == 5, "expected the 5 keyed runs"
    for params in ({"limit": 0}, {"limit": 201}, {"cursor": "abc"}, {"status": "x"}):
        refused = await client.get("/v1/runs", params=params)
        assert refused.status_code == 422, f"expected 422 for {params}"


async def test_cancel_then_cancel_again_conflicts(serve):
    """Cancelling a waiting run answers 202 and the run ends cancelled; cancelling
    it again answers 409."""
    server = await serve(cancel_grace_s=0.1)  # a signal wait ends at preemption
    async with server.client() as client:
        await _cancel_twice(server, client)


async def _cancel_twice(server, client):
    run_id = await start_run(client, "waits_for_go")
    await wait_for_status(server.conveyor, run_id, RunStatus.RUNNING)
    response = await client.post(f"/v1/runs/{run_id}/cancel")
    assert response.status_code == 202, f"expected 202, got {response.status_code}"
    assert response.json()["cancel_requested"] is True, response.json()
    await wait_for_status(server.conveyor, run_id, RunStatus.CANCELLED)
    again = await client.post(f"/v1/runs/{run_id}/cancel")
    assert again.status_code == 409, f"expected 409, got {again.status_code}"
    assert again.json()["error"] == "IllegalTransitionError", again.json()


async def test_signal_and_query(server, client):
    """A query reads the run's published state; a signal (202) lets it continue; an
    unknown query answers 404."""
    run_id = await start_run(client, "waits_for_go")
    await wait_for_status(server.conveyor, run_id, RunStatus.RUNNING)
    stage = await client.get(f"/v1/runs/{run_id}/query/stage")
    assert stage.json() == {"name": "stage", "value": "waiting"}, stage.json()
    unknown = await client.get(f"/v1/runs/{run_id}/query/nope")
    assert unknown.status_code == 404, f"expected 404, got {unknown.status_code}"
    sent = await client.post(
        f"/v1/runs/{run_id}/signals/go", json={"payload": {"n": 1}}
    )
    assert sent.status_code == 202, f"expected 202, got {sent.status_code}"
    assert isinstance(sent.json()["signal_id"], int), sent.json()
    run = await wait_for_status(server.conveyor, run_id, RunStatus.COMPLETED)
    assert run.output == {"payload": {"n": 1}, "value": 3}, f"got {run.output}"
    late = await client.post(f"/v1/runs/{run_id}/signals/go", json={})
    assert late.status_code == 409, (
        f"expected 409 after the end, got {late.status_code}"
    )
