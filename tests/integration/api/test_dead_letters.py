"""Dead letters over HTTP: a failed run is listed with its error (no traceback),
can be read alone, and replayed into a new attempt."""

from __future__ import annotations

from api_support import ADMIN_KEY, start_run, wait_for_status

from conveyor.runs import RunStatus


async def test_dead_letter_list_get_and_replay(server, client):
    """A dead-lettered run shows in the list and alone with its error and attempts;
    replay answers 202, the run runs again and fails again into a new letter."""
    run_id = await start_run(client, "fails", "x")
    await wait_for_status(server.conveyor, run_id, RunStatus.DEAD)
    listed = (await client.get("/v1/dead-letters", params={"limit": 10})).json()
    assert len(listed["items"]) == 1, f"expected one dead letter, got {listed}"
    letter = listed["items"][0]
    assert (letter["run_id"], letter["workflow"], letter["attempts"]) == (
        run_id,
        "fails",
        1,
    ), letter
    assert letter["error"]["type"] == "RuntimeError", letter["error"]
    assert "traceback" not in letter["error"], "expected no traceback in the API"
    alone = await client.get(f"/v1/dead-letters/{letter['id']}")
    assert alone.json() == letter, f"expected the same letter, got {alone.json()}"
    run = (await client.get(f"/v1/runs/{run_id}")).json()
    assert run["status"] == "dead", f"expected status dead, got {run['status']}"
    assert "traceback" not in run["error"], "expected no traceback on the run"

    replay = await client.post(
        f"/v1/dead-letters/{letter['id']}/replay", headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert replay.status_code == 202, f"expected 202, got {replay.status_code}"
    assert replay.json()["run_id"] == run_id, replay.json()
    assert replay.json()["status"] in {"pending", "running", "dead"}, replay.json()
    await wait_for_status(server.conveyor, run_id, RunStatus.DEAD)
    again = (await client.get("/v1/dead-letters")).json()["items"]
    assert [item["run_id"] for item in again] == [run_id], again
    assert again[0]["id"] != letter["id"], "expected a new letter for the new failure"


async def test_dead_letter_errors(client):
    """An unknown dead letter answers 404 to reads and replays; limits are
    validated."""
    missing = await client.get("/v1/dead-letters/nope")
    assert missing.status_code == 404, f"expected 404, got {missing.status_code}"
    assert missing.json()["error"] == "DeadLetterNotFoundError", missing.json()
    replay = await client.post(
        "/v1/dead-letters/nope/replay", headers={"X-Admin-Key": ADMIN_KEY}
    )
    assert replay.status_code == 404, f"expected 404, got {replay.status_code}"
    too_many = await client.get("/v1/dead-letters", params={"limit": 500})
    assert too_many.status_code == 422, f"expected 422, got {too_many.status_code}"
    assert too_many.json()["details"][0]["field"] == "query.limit", too_many.json()
