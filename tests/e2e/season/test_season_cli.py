"""`conveyor season plan` and `conveyor serve` as a user runs them: separate
processes, real exit codes, season planning mounted by default."""

from __future__ import annotations

from pathlib import Path

from e2e_support import Cli, ServerProcess, cli_env, run_cli

ZARA = (
    "12-week season starting March 1 2025, no replenishment, nothing held back at "
    "the DC"
)


def test_serve_mounts_season_and_says_where(server: ServerProcess) -> None:
    """`conveyor serve` mounts season planning and prints its page's URL."""
    log = server.log.read_text(errors="replace")
    assert f"season planning: {server.url}/season/" in log, (
        f"expected the page URL in the server's output, got:\n{log}"
    )


def test_season_plan_against_the_server(cli: Cli) -> None:
    """`conveyor season plan TEXT --category CAT001 --json` prints the plan made
    by the server's real agents and exits 0."""
    result = cli("season", "plan", ZARA, "--category", "CAT001", "--json")
    assert result.code == 0, f"expected exit 0, got {result.code}: {result.stderr}"
    plan = result.json()
    forecast, inventory = plan["forecast"], plan["inventory"]
    assert len(forecast["weekly_curve"]) == 12, f"got {forecast['weekly_curve']}"
    expected = round(forecast["total_units"] * 1.25)
    assert inventory["manufacturing_qty"] == expected, (
        f"expected {expected} to manufacture, got {inventory['manufacturing_qty']}"
    )


def test_season_plan_exit_codes(cli: Cli) -> None:
    """No history for the category exits 4, an unreadable strategy 2, each with
    the server's error on stderr."""
    missing = cli("season", "plan", ZARA, "--category", "CAT999", "--json")
    assert missing.code == 4, f"expected exit 4, got {missing.code}: {missing.stderr}"
    assert missing.error()["error"] == "DataNotFoundError", missing.stderr
    unreadable = cli("season", "plan", "a 12-week season", "-c", "CAT001")
    assert unreadable.code == 2, f"expected exit 2, got {unreadable.code}"
    assert "ParameterExtractionError (422)" in unreadable.stderr, unreadable.stderr


def test_season_plan_in_process(tmp_path: Path) -> None:
    """Without --url the command plans in its own process on the local store and
    shows every agent's progress."""
    result = run_cli(
        ("season", "plan", ZARA, "--category", "CAT005"), tmp_path, cli_env(tmp_path)
    )
    assert result.code == 0, f"expected exit 0, got {result.code}: {result.stderr}"
    assert "Season plan for CAT005" in result.stdout, result.stdout
    for agent in ("parameters", "context", "demand", "inventory"):
        assert f"✓ {agent} completed" in result.stderr, result.stderr
