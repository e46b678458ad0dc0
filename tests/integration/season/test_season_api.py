"""The season HTTP API on a real server: plans answered at once or in the
background, parameter previews, the planner's choices and page, and installation."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from fastapi import FastAPI
from season_support import SeasonServer, check_plan, run_workflow_body

from conveyor import Conveyor, Settings, workflow
from conveyor.api import create_app
from conveyor.errors import ConfigurationError
from conveyor.testing import Delay, FakeAgent, LocalServer, wait_until
from conveyor.testing.plugin import ConveyorFactory
from conveyor_apps.season import (
    Scenario,
    SeasonPlan,
    SeasonSettings,
    create_season_app,
    install,
    mock_forecast,
)


async def test_run_workflow_answers_with_the_plan(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """POST run-workflow waits for the plan and answers 200 with it, the execution
    log of the four agents and where to follow the run."""
    scenario = scenarios["standard_retail"]
    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(scenario.description, "CAT003", session_id="s-ok"),
        )
    body = response.json()
    assert response.status_code == 200, f"expected 200, got {response.status_code}"
    assert (body["status"], body["session_id"]) == ("completed", "s-ok"), f"{body}"
    plan = SeasonPlan.model_validate(body["plan"])
    check_plan(plan, 26, "weekly")
    assert (plan.category_id, plan.run_id) == ("CAT003", body["run_id"]), f"{plan}"
    assert plan.inventory.manufacturing_qty == 9600, f"got {plan.inventory}"
    assert [(e["agent"], e["status"]) for e in body["execution_log"]] == [
        ("parameters", "success"),
        ("context", "success"),
        ("demand", "success"),
        ("inventory", "success"),
    ], f"got {body['execution_log']}"
    assert body["links"] == {
        "self": f"/api/orchestrator/runs/{body['run_id']}",
        "stream": "/ws/orchestrator/s-ok",
    }, f"got {body['links']}"


async def test_background_run_answers_202(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """With background true the answer is 202 and a run id (a session id is made
    when none is given); GET runs/{id} then shows the plan."""
    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(scenarios["luxury"].description, background=True),
        )
        body = response.json()
        assert response.status_code == 202, f"expected 202, got {response.text}"
        assert body["plan"] is None and len(body["session_id"]) == 32, f"{body}"

        async def completed() -> dict | None:
            found = (await client.get(body["links"]["self"])).json()
            return found if found["status"] == "completed" else None

        done = await wait_until(completed, message="the run did not complete")
    plan = SeasonPlan.model_validate(done["plan"])
    check_plan(plan, 24, "bi-weekly")
    assert plan.inventory.dc_holdback_qty == 5856, f"got {plan.inventory}"
    assert len(done["execution_log"]) == 4, f"got {done['execution_log']}"


async def test_slow_plan_answers_202_after_the_wait(
    serve, scenarios: dict[str, Scenario]
) -> None:
    """A plan slower than the service waits is answered 202; it carries on."""
    server = await serve(season=SeasonSettings(sync_wait_s=0.05))
    slow = FakeAgent(
        "demand",
        lambda context: mock_forecast(context.parameters, context),
        faults=[Delay(0.3)],
    )
    server.orchestrator.handoff.register_agent("demand", slow.agent, replace=True)
    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(scenarios["zara_style"].description),
        )
    assert response.status_code == 202, f"expected 202, got {response.text}"
    plan = await server.orchestrator.plan_result(response.json()["run_id"])
    assert plan.forecast.total_units == 8000, f"got {plan.forecast.total_units}"


async def test_parameters_preview(server: SeasonServer) -> None:
    """GET and POST parameters answer the parameters a strategy states."""
    text = "26 weeks from 2025-05-15, weekly replenishment, 45% DC holdback"
    expected = {
        "forecast_horizon_weeks": 26,
        "season_start_date": "2025-05-15",
        "season_end_date": "2025-11-13",
        "replenishment_strategy": "weekly",
        "dc_holdback_percentage": 0.45,
    }
    async with server.client() as client:
        by_get = await client.get("/api/orchestrator/parameters", params={"text": text})
        by_post = await client.post(
            "/api/orchestrator/parameters", json={"strategy_description": text}
        )
    for response in (by_get, by_post):
        body = response.json()
        assert response.status_code == 200, f"expected 200, got {response.text}"
        assert body == {"parameters": expected, "extractor": "rules"}, f"got {body}"


async def test_categories_and_scenarios(server: SeasonServer) -> None:
    """The page's choices: five categories with history, three scenarios."""
    async with server.client() as client:
        categories = (await client.get("/api/orchestrator/categories")).json()
        scenarios = (await client.get("/api/orchestrator/scenarios")).json()
    assert [c["category_id"] for c in categories] == [
        "CAT001", "CAT002", "CAT003", "CAT004", "CAT005"
    ], f"got {categories}"  # fmt: skip
    assert all(c["has_history"] for c in categories), f"got {categories}"
    keys = [s["key"] for s in scenarios]
    assert keys == ["zara_style", "standard_retail", "luxury"], f"got {keys}"
    start = scenarios[0]["parameters"]["season_start_date"]
    assert start == str(date(2025, 3, 1)), f"expected 2025-03-01, got {start}"


async def test_page_is_served(server: SeasonServer) -> None:
    """The planner's page and its script are served without a build step, under a
    content security policy; /season redirects to /season/."""
    async with server.client() as client:
        page = await client.get("/season/")
        script = await client.get("/season/season.js")
        redirect = await client.get("/season")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"], (
        f"expected an HTML page, got {page.status_code} {page.headers}"
    )
    assert 'id="strategy"' in page.text and 'id="chart"' in page.text, page.text[:200]
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy, f"expected own scripts only, got {policy}"
    assert script.status_code == 200 and "/ws/orchestrator/" in script.text, (
        f"expected the page's script, got {script.status_code}"
    )
    kind = script.headers["content-type"]
    assert kind.startswith("text/javascript"), f"expected JavaScript, got {kind}"
    moved = (redirect.status_code, redirect.headers["location"])
    assert moved == (308, "/season/"), f"expected 308 to /season/, got {moved}"


async def test_get_run_of_another_workflow_is_404(
    make_conveyor: ConveyorFactory, server: SeasonServer
) -> None:
    """GET runs/{id} answers only for season plans."""

    @workflow
    async def other(run: object, data: int) -> int:
        return data

    conveyor = server.orchestrator.conveyor
    conveyor.register(other)
    run_id = (await conveyor.start(other, 1)).run_id
    async with server.client() as client:
        response = await client.get(f"/api/orchestrator/runs/{run_id}")
    assert response.status_code == 404, f"expected 404, got {response.text}"


async def test_install_needs_the_engine_api(make_conveyor: ConveyorFactory) -> None:
    """Season mounts only on the API of the same engine, and only once."""
    conveyor = await make_conveyor()
    with pytest.raises(ConfigurationError, match="create_app"):
        install(conveyor, FastAPI())
    with pytest.raises(ConfigurationError, match="create_app"):
        install(conveyor, create_app(await make_conveyor()))
    install(conveyor, create_app(conveyor))
    with pytest.raises(ConfigurationError, match="already registered"):
        install(conveyor, create_app(conveyor))


async def test_create_season_app_serves_and_closes(tmp_path) -> None:
    """create_season_app builds the engine and the API; serving opens the engine,
    and stopping closes it."""
    app = create_season_app(settings=Settings(store_url=f"sqlite:///{tmp_path}/s.db"))
    conveyor: Conveyor = app.state.api.conveyor
    async with (
        LocalServer(app, lifespan="on") as live,
        httpx.AsyncClient(base_url=live.url) as client,
    ):
        assert conveyor.is_open, "expected serving to open the engine"
        response = await client.get("/api/orchestrator/categories")
        assert response.status_code == 200, f"got {response.text}"
    assert not conveyor.is_open, "expected the engine closed with the server"
