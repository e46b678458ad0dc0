"""What `conveyor season plan` does, run in-process: plans through a real server or
in this process, shows progress, prints the plan, and exits with a code that says
how it went (the subprocess tests in tests/e2e/season run the installed command)."""

from __future__ import annotations

import io
import json

import pytest
import typer
from rich.console import Console
from season_support import SeasonServer

from conveyor.cli.exits import ExitCode
from conveyor.client import ServerUnreachableError
from conveyor.policies import NO_RETRY
from conveyor.testing import Delay, FakeAgent
from conveyor_apps.season import Scenario, mock_forecast
from conveyor_apps.season.cli import plan_season
from conveyor_apps.season.cli_view import PlanView, describe, sparkline

MISSING_HOLDBACK = "a 12-week season from 1 March 2025 with no replenishment"


async def plan(strategy: str, category: str = "CAT001", **options) -> ExitCode:
    """`plan_season` with the command's defaults."""
    options.setdefault("url", None)
    options.setdefault("api_key", None)
    options.setdefault("timeout_s", 30.0)
    options.setdefault("as_json", False)
    return await plan_season(strategy, category, **options)


async def exits(expected: ExitCode, capsys, *args, **options) -> str:
    """Run the command, check its exit code; what it printed on stderr."""
    code = await plan(*args, **options)
    err = capsys.readouterr().err
    assert code == expected, f"expected exit {expected!r}, got {code!r}: {err}"
    return err


async def test_plan_through_a_server(
    server: SeasonServer, scenarios: dict[str, Scenario], capsys
) -> None:
    """With --url the plan runs on the server; --json prints only the plan."""
    code = await plan(
        scenarios["zara_style"].description, url=server.live.url, as_json=True
    )
    captured = capsys.readouterr()
    assert code == ExitCode.OK, f"expected exit 0, got {code}: {captured.err}"
    plan_json = json.loads(captured.out)
    assert plan_json["inventory"]["manufacturing_qty"] == 10000, f"got {plan_json}"
    assert captured.err == "", f"expected nothing on stderr, got {captured.err!r}"


async def test_plan_shows_progress_and_summary(
    server: SeasonServer, scenarios: dict[str, Scenario], capsys
) -> None:
    """Without --json each agent's progress goes to stderr and a summary of the
    plan to stdout."""
    code = await plan(scenarios["luxury"].description, "CAT002", url=server.live.url)
    captured = capsys.readouterr()
    assert code == ExitCode.OK, f"expected exit 0, got {code}: {captured.err}"
    for line in ("→ demand started", "✓ inventory completed", "[100%] plan ready"):
        assert line in captured.err, f"expected {line!r} in {captured.err}"
    for text in ("Season plan for CAT002", "9,760 units", "bi-weekly", "(60%)"):
        assert text in captured.out, f"expected {text!r} in {captured.out}"


async def test_plan_failures_set_the_exit_code(
    serve, scenarios: dict[str, Scenario], capsys
) -> None:
    """No history exits 4, an unreadable strategy 2 (JSON error on stderr with
    --json), a slow agent 6, a refused key 2."""
    server: SeasonServer = await serve()
    description = scenarios["zara_style"].description
    url = server.live.url
    err = await exits(ExitCode.NOT_FOUND, capsys, description, "CAT999", url=url)
    assert "DataNotFoundError (404)" in err, f"expected the 404 reported, got {err}"
    err = await exits(ExitCode.USAGE, capsys, MISSING_HOLDBACK, url=url, as_json=True)
    error = json.loads(err.strip().splitlines()[-1])
    assert error["details"] == {"missing": ["dc_holdback_percentage"]}, f"{error}"
    slow = FakeAgent(
        "demand",
        lambda context: mock_forecast(context.parameters, context),
        faults=[Delay(5.0)],
        timeout_s=0.1,
        retry=NO_RETRY,
    )
    server.orchestrator.handoff.register_agent("demand", slow.agent, replace=True)
    err = await exits(ExitCode.TIMED_OUT, capsys, description, url=url)
    assert "AgentTimeoutError (504)" in err, f"expected the 504 reported, got {err}"

    locked: SeasonServer = await serve(api_keys="acme:key-acme-0123456789")
    err = await exits(ExitCode.USAGE, capsys, description, url=locked.live.url)
    assert "AuthenticationError (401)" in err, f"expected the 401 reported, got {err}"
    key = "key-acme-0123456789"
    await exits(ExitCode.OK, capsys, description, url=locked.live.url, api_key=key)


async def test_plan_timeout_and_unreachable_server(
    serve, scenarios: dict[str, Scenario]
) -> None:
    """--timeout gives up with a TimeoutError saying so; a server that is not there
    is ServerUnreachableError (exit 5 in the command)."""
    server: SeasonServer = await serve()
    slow = FakeAgent(
        "demand",
        lambda context: mock_forecast(context.parameters, context),
        faults=[Delay(2.0)],
        retry=NO_RETRY,
    )
    server.orchestrator.handoff.register_agent("demand", slow.agent, replace=True)
    description = scenarios["zara_style"].description
    with pytest.raises(TimeoutError, match=r"no plan within 0\.2 s"):
        await plan(description, url=server.live.url, timeout_s=0.2)
    await server.live.aclose()
    with pytest.raises(ServerUnreachableError):
        await plan(description, url=server.live.url)


async def test_plan_in_this_process(
    scenarios: dict[str, Scenario], tmp_path, monkeypatch, capsys
) -> None:
    """Without --url the plan runs here on CONVEYOR_STORE_URL, real agents and all;
    its failures exit as they do through a server."""
    monkeypatch.setenv("CONVEYOR_STORE_URL", f"sqlite:///{tmp_path}/cli.db")
    code = await plan(scenarios["standard_retail"].description, "CAT004")
    captured = capsys.readouterr()
    assert code == ExitCode.OK, f"expected exit 0, got {code}: {captured.err}"
    assert "Season plan for CAT004" in captured.out, captured.out
    assert "✓ demand completed" in captured.err, captured.err
    err = await exits(ExitCode.USAGE, capsys, MISSING_HOLDBACK)
    assert "ParameterExtractionError (422)" in err, f"expected the 422, got {err}"
    with pytest.raises(typer.BadParameter, match="pattern"):
        await plan(MISSING_HOLDBACK, "CAT 1")
    with pytest.raises(typer.BadParameter):
        await plan("", "CAT001")


def test_live_view_on_a_terminal() -> None:
    """On a terminal the view keeps a bar per agent and one for the plan."""
    console = Console(file=io.StringIO(), force_terminal=True, width=100)
    view = PlanView(console)
    base = {"timestamp": "2025-01-01T00:00:00.000Z", "session_id": "s", "run_id": "r"}
    messages = [
        {**base, "type": "progress", "agent": None, "progress": 0.5, "message": "m"},
        {**base, "type": "agent_status", "agent": "demand", "status": "started"},
        {**base, "type": "progress", "agent": "demand", "progress": 0.4,
         "message": "fitting"},
        {**base, "type": "agent_status", "agent": "demand", "status": "completed"},
        {**base, "type": "agent_status", "agent": "inventory", "status": "failed",
         "error": {"type": "E", "message": "boom"}},
        {**base, "type": "complete", "result": {}},
    ]  # fmt: skip
    with view:
        ended = [view.show(message, "r") for message in messages]
        other = view.show({**base, "run_id": "other", "type": "complete"}, "r")
        assert other is False, "expected another run's messages to be ignored"
    assert ended == [False] * 5 + [True], f"got {ended}"
    tasks = {task.fields["name"]: task for task in view.progress.tasks}
    assert tasks["demand"].completed == 1.0, f"got {tasks['demand']}"
    assert "boom" in tasks["inventory"].description, f"got {tasks['inventory']}"
    assert tasks["plan"].completed == 1.0, f"got {tasks['plan']}"
    error = {**base, "type": "error", "error": {"type": "E", "message": "x"}}
    lines = (describe(error), describe({**base, "type": "connected"}))
    assert lines == ("✗ plan failed: E: x", None), f"got {lines}"
    sparks = (sparkline([]), sparkline([1, 1]), sparkline([0, 7]))
    assert sparks == ("", "▁▁", "▁█"), f"got {sparks}"
