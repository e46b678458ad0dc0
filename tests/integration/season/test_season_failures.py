"""How the season service fails: a category without history, a slow agent, invalid
or unreadable parameters — in Python and as the API's JSON errors."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from pydantic import ValidationError
from season_support import (
    SeasonServer,
    read_until,
    run_workflow_body,
    until_connected,
)

from conveyor import AgentTimeoutError, HandoffManager
from conveyor.policies import NO_RETRY
from conveyor.testing import Delay, FakeAgent, Hang, Raise, wait_until
from conveyor_apps.season import (
    DataNotFoundError,
    PlanCancelledError,
    PlanFailedError,
    PlanRequest,
    Scenario,
    SeasonError,
    SeasonOrchestrator,
    SeasonParameters,
    assemble_context,
    mock_forecast,
)
from conveyor_apps.season.failures import error_from_info, error_message, status_of

ERROR_KEYS = {"error", "message", "request_id", "details"}
ZARA_TEXT = (
    "Fast-fashion drop: a 12-week season from 1 March 2025 to 23 May 2025, no "
    "replenishment, and nothing held back at the DC."
)


def slow_demand(manager: HandoffManager, timeout_s: float) -> FakeAgent:
    """Replace the Demand agent with one that answers after 5 s."""
    fake = FakeAgent(
        "demand",
        lambda context: mock_forecast(context.parameters, context),
        faults=[Delay(5.0)],
        timeout_s=timeout_s,
        retry=NO_RETRY,
    )
    manager.register_agent("demand", fake.agent, replace=True)
    return fake


def check_error_body(response, status: int, error: str) -> dict:
    """The response is `status` with the JSON error body of type `error`, carrying
    the request id of the X-Request-ID header."""
    body = response.json()
    assert response.status_code == status, (
        f"expected {status}, got {response.status_code}: {body}"
    )
    assert set(body) == ERROR_KEYS, f"expected keys {ERROR_KEYS}, got {set(body)}"
    assert body["error"] == error, f"expected error {error}, got {body['error']}"
    assert body["request_id"] == response.headers["X-Request-ID"], (
        f"expected request id {response.headers['X-Request-ID']}, "
        f"got {body['request_id']}"
    )
    return body


async def test_missing_historical_data_error(
    mock_orchestrator: SeasonOrchestrator,
    scenarios: dict[str, Scenario],
    server: SeasonServer,
) -> None:
    """A category without history raises DataNotFoundError naming it, the context
    agent's call is logged as failed, and the API answers 404 with the error body."""
    params = scenarios["zara_style"].parameters
    with pytest.raises(DataNotFoundError, match=r"No historical data.*CAT999"):
        assemble_context("CAT999", params)
    with pytest.raises(DataNotFoundError) as caught:
        await mock_orchestrator.forecast(ZARA_TEXT, "CAT999", session_id="missing")
    assert caught.value.category_id == "CAT999", f"got {caught.value.category_id}"
    log = mock_orchestrator.execution_log(session_id="missing")
    assert [(e.agent, e.status) for e in log] == [
        ("parameters", "success"),
        ("context", "failed"),
    ], f"expected parameters ok then context failed, got {log}"
    assert log[-1].error is not None and "DataNotFoundError" in log[-1].error, (
        f"expected the log to name DataNotFoundError, got {log[-1].error}"
    )

    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(ZARA_TEXT, "CAT999", session_id="s-missing"),
            headers={"X-Request-ID": "req-missing-1"},
        )
    body = check_error_body(response, 404, "DataNotFoundError")
    assert "No historical data" in body["message"] and "CAT999" in body["message"], (
        f"expected the message to name the missing history, got {body['message']}"
    )
    assert body["request_id"] == "req-missing-1", f"got {body['request_id']}"
    assert body["details"] == {"category_id": "CAT999"}, f"got {body['details']}"


async def test_agent_timeout_handling(
    mock_orchestrator: SeasonOrchestrator,
    scenarios: dict[str, Scenario],
    serve,
) -> None:
    """A Demand agent slower than its timeout raises AgentTimeoutError carrying the
    agent's name and timeout, is logged as a timeout, and the API answers 504."""
    params = scenarios["zara_style"].parameters
    context = assemble_context("CAT001", params)
    handoff = mock_orchestrator.handoff
    slow = slow_demand(handoff, timeout_s=0.2)
    with pytest.raises(AgentTimeoutError) as caught:
        await handoff.call_agent("demand", context, session_id="t2")
    assert (caught.value.agent_name, caught.value.timeout) == ("demand", 0.2), (
        f"expected ('demand', 0.2), got {caught.value.agent_name, caught.value.timeout}"
    )
    with pytest.raises(AgentTimeoutError) as caught:
        await handoff.call_agent("demand", context, timeout=0.05, session_id="t2")
    assert caught.value.timeout == 0.05, f"expected 0.05, got {caught.value.timeout}"
    log = [(e.agent, e.status) for e in handoff.execution_log(session_id="t2")]
    assert log == [("demand", "timeout")] * 2, f"expected two timeouts, got {log}"
    assert slow.call_count == 2, f"expected 2 calls, got {slow.call_count}"

    server = await serve()
    slow_demand(server.orchestrator.handoff, timeout_s=0.2)
    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(ZARA_TEXT, session_id="s-timeout"),
        )
    body = check_error_body(response, 504, "AgentTimeoutError")
    assert "demand" in body["message"], f"expected the agent's name, got {body}"
    assert body["details"] == {"agent_name": "demand", "timeout": 0.2}, (
        f"expected the timeout's details, got {body['details']}"
    )
    log = server.orchestrator.execution_log(session_id="s-timeout")
    assert (log[-1].agent, log[-1].status) == ("demand", "timeout"), f"got {log}"


async def test_invalid_parameters_validation(server: SeasonServer) -> None:
    """Invalid values are refused naming the field (in Python and with 422), and
    text that leaves a parameter out gets a 422 naming what is missing."""
    valid = {
        "forecast_horizon_weeks": 12,
        "season_start_date": date(2025, 3, 1),
        "season_end_date": date(2025, 5, 23),
        "replenishment_strategy": "none",
        "dc_holdback_percentage": 0.0,
    }
    invalid = {
        "forecast_horizon_weeks": 100,
        "season_end_date": date(2025, 2, 1),
        "replenishment_strategy": "monthly",
        "dc_holdback_percentage": 1.5,
    }
    for field, value in invalid.items():
        with pytest.raises(ValidationError, match=field):
            SeasonParameters(**{**valid, field: value})

    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/parameters",
            json={"strategy_description": "a 100-week season from 1 March 2025, "
                  "weekly replenishment, 10% held back at the DC"},
        )  # fmt: skip
        body = check_error_body(response, 422, "ValidationFailedError")
        assert body["message"].startswith("forecast_horizon_weeks:"), (
            f"expected the message to name forecast_horizon_weeks, got {body}"
        )
        assert body["details"][0]["field"] == "forecast_horizon_weeks", f"got {body}"

        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(
                "a 12-week season from 1 March 2025 with no replenishment"
            ),
        )
        body = check_error_body(response, 422, "ParameterExtractionError")
        assert body["details"] == {"missing": ["dc_holdback_percentage"]}, (
            f"expected dc_holdback_percentage to be named missing, got {body}"
        )
        assert "dc_holdback_percentage" in body["message"], f"got {body['message']}"

        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(
                "a 12-week season from 1 March 2025 to 1 February 2025, weekly "
                "replenishment, 10% held back at the DC"
            ),
        )
        body = check_error_body(response, 422, "ValidationFailedError")
        assert body["details"][0]["field"] == "season_end_date", f"got {body}"

        response = await client.post(
            "/api/orchestrator/run-workflow",
            json={"strategy_description": "", "category_id": "CAT001"},
        )
        body = check_error_body(response, 422, "ValidationFailedError")
        assert body["details"][0]["field"] == "body.strategy_description", (
            f"expected the empty strategy to be named, got {body}"
        )


async def test_api_error_responses(serve, scenarios: dict[str, Scenario]) -> None:
    """Every season error answers with `{error, message, request_id, details}`:
    401 without a key, 404 for unknown runs, 422 for bad bodies and categories,
    405 for wrong methods; and a failed background run reports its error."""
    server = await serve(api_keys="acme:key-acme-0123456789")
    description = scenarios["zara_style"].description
    async with server.client() as anonymous:
        response = await anonymous.post(
            "/api/orchestrator/run-workflow", json=run_workflow_body(description)
        )
        check_error_body(response, 401, "AuthenticationError")
    async with server.client("key-acme-0123456789") as client:
        response = await client.get("/api/orchestrator/runs/no-such-run")
        check_error_body(response, 404, "RunNotFoundError")
        response = await client.post(
            "/api/orchestrator/run-workflow",
            content=b"{not json",
            headers={"Content-Type": "application/json"},
        )
        check_error_body(response, 422, "ValidationFailedError")
        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(description, "CAT 001; DROP"),
        )
        body = check_error_body(response, 422, "ValidationFailedError")
        assert body["details"][0]["field"] == "body.category_id", f"got {body}"
        response = await client.delete("/api/orchestrator/run-workflow")
        check_error_body(response, 405, "MethodNotAllowedError")
        response = await client.get("/api/orchestrator/parameters", params={"text": ""})
        check_error_body(response, 422, "ValidationFailedError")

        response = await client.post(
            "/api/orchestrator/run-workflow",
            json=run_workflow_body(description, "CAT404", background=True),
        )
        assert response.status_code == 202, f"expected 202, got {response.text}"
        run_id = response.json()["run_id"]
        with pytest.raises(DataNotFoundError):
            await server.orchestrator.plan_result(run_id)
        response = await client.get(f"/api/orchestrator/runs/{run_id}")
        body = response.json()
        assert (response.status_code, body["status"]) == (200, "dead"), f"got {body}"
        assert body["error"]["error"] == "DataNotFoundError", f"got {body['error']}"
        assert body["plan"] is None, f"expected no plan, got {body['plan']}"


async def test_unexpected_failure_keeps_internals_out(
    server: SeasonServer, scenarios: dict[str, Scenario]
) -> None:
    """An agent crashing on a bug answers 500 PlanFailedError naming the run and
    the agent, without the exception's text, over HTTP and on the stream."""
    broken = FakeAgent(
        "demand", faults=[Raise(RuntimeError("boom in /srv/secret.py"))], retry=NO_RETRY
    )
    server.orchestrator.handoff.register_agent("demand", broken.agent, replace=True)
    async with server.stream("s-broken") as ws:
        await until_connected(ws)
        async with server.client() as client:
            response = await client.post(
                "/api/orchestrator/run-workflow",
                json=run_workflow_body(
                    scenarios["zara_style"].description, session_id="s-broken"
                ),
            )
        streamed = (await read_until(ws, "error"))[-1]
    body = check_error_body(response, 500, "PlanFailedError")
    assert "secret" not in response.text, f"expected no internals, got {body}"
    assert body["details"]["step"] == "demand", f"got {body['details']}"
    assert body["details"]["error_type"] == "RuntimeError", f"got {body['details']}"
    assert streamed["status_code"] == 500, f"got {streamed}"
    assert streamed["error"]["message"] == body["message"], f"got {streamed}"


async def test_cancelled_plan(server: SeasonServer, scenarios: dict[str, Scenario]):
    """A plan cancelled while its Demand agent works ends as PlanCancelledError
    (409) for its waiter, its GET and its stream."""
    stuck = FakeAgent("demand", faults=[Hang()], retry=NO_RETRY)
    server.orchestrator.handoff.register_agent("demand", stuck.agent, replace=True)
    season = server.orchestrator
    async with server.stream("s-cancel") as ws:
        await until_connected(ws)
        handle = await season.start_plan(
            PlanRequest(
                strategy_description=scenarios["luxury"].description,
                category_id="CAT001",
            ),
            session_id="s-cancel",
        )
        waiter = asyncio.create_task(season.plan_result(handle.run_id))
        await wait_until(lambda: stuck.call_count == 1, message="demand not called")
        await handle.cancel()
        with pytest.raises(PlanCancelledError):
            await waiter
        streamed = (await read_until(ws, "error"))[-1]
    assert (streamed["error"]["type"], streamed["status_code"]) == (
        "PlanCancelledError",
        409,
    ), f"got {streamed}"
    async with server.client() as client:
        body = (await client.get(f"/api/orchestrator/runs/{handle.run_id}")).json()
    assert (body["status"], body["error"]["error"]) == (
        "cancelled",
        "PlanCancelledError",
    ), f"got {body}"


def test_stored_errors_map_back_to_their_types() -> None:
    """A stored error becomes its typed error with its HTTP status; records without
    usable details fall back to PlanFailedError (500) with a safe message."""
    cases = [
        ({"type": "DataNotFoundError", "details": {"category_id": "X"}}, 404),
        ({"type": "ParameterExtractionError", "details": {"missing": ["a"]}}, 422),
        ({"type": "ValidationFailedError", "details": {"field": "f", "problem": "p"}},
         422),
        ({"type": "AgentTimeoutError", "details": {"agent_name": "d", "timeout": 1}},
         504),
        ({"type": "ExtractorBackendError", "message": "m", "details": {}}, 502),
        ({"type": "RunCancelledError"}, 409),
        ({"type": "DataNotFoundError", "details": {"wrong": 1}}, 500),
        ({"type": "KeyError", "step": "demand"}, 500),
        (None, 500),
    ]  # fmt: skip
    for info, status in cases:
        error = error_from_info("run-1", info)
        assert status_of(error) == status, f"{info}: expected {status}, got {error!r}"
    fallback = error_from_info("run-1", {"type": "KeyError", "step": "demand"})
    assert isinstance(fallback, PlanFailedError), f"got {fallback!r}"
    shown = error_message(fallback)
    assert shown == "season plan run-1 failed in demand (KeyError)", f"got {shown}"
    generic = error_message(SeasonError("internal detail"))
    assert generic == "The season planning domain failed.", f"got {generic}"
