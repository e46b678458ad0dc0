"""The `conveyor` command end to end: a real `conveyor serve` process, the CLI run as
separate processes, checked by exit code and output."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_support import Cli, ServerProcess, cli_env, free_port, run_cli

from conveyor.cli.exits import ExitCode

pytestmark = pytest.mark.slow


def test_run_hello_prints_the_final_run_as_json(
    cli: Cli, server: ServerProcess
) -> None:
    """`run hello --json` exits 0 and prints the completed run with its output."""
    result = cli(
        "run", "hello", "--input", '{"name":"x"}', "--url", server.url, "--json"
    )
    assert result.code == ExitCode.OK, result.stderr
    run = result.json()
    assert run["status"] == "completed", f"expected completed, got {run}"
    assert run["output"] == {"greeting": "Hello, X!"}, f"got {run['output']}"
    assert result.stderr == "", f"--json should print nothing else: {result.stderr}"


def test_run_flaky_completes_after_retries(cli: Cli) -> None:
    """`run flaky` rides out two failed attempts and completes."""
    result = cli("run", "flaky", "--input", '{"failures": 2}', "--json")
    assert result.code == ExitCode.OK, result.stderr
    assert result.json()["output"] == {"result": "succeeded on attempt 3"}


def test_dead_letter_is_listed_and_replayed(cli: Cli) -> None:
    """`run always_fails` exits 1; `dlq list` shows its letter; `dlq replay --wait`
    follows the replay to its (failed) end; `dlq replay` returns the run id."""
    failed = cli("run", "always_fails", "--json")
    assert failed.code == ExitCode.RUN_FAILED, failed.stderr
    run = failed.json()
    assert run["status"] == "dead", f"expected dead, got {run['status']}"
    assert run["error"]["type"] == "PermanentError", f"got {run['error']}"

    letters = cli("dlq", "list", "--json")
    assert letters.code == ExitCode.OK, letters.stderr
    mine = [i for i in letters.json()["items"] if i["run_id"] == run["run_id"]]
    assert len(mine) == 1, f"expected one letter for the run: {letters.stdout}"
    assert mine[0]["attempts"] == 3, f"expected 3 attempts: {mine[0]}"

    waited = cli("dlq", "replay", mine[0]["id"], "--wait", "--json")
    assert waited.code == ExitCode.RUN_FAILED, waited.stderr
    assert waited.json()["run_id"] == run["run_id"], "replay should resume the run"

    again = cli("dlq", "list", "--json")
    fresh = [i for i in again.json()["items"] if i["run_id"] == run["run_id"]]
    assert [i["id"] for i in fresh] != [mine[0]["id"]], "expected a new letter"
    replayed = cli("dlq", "replay", fresh[0]["id"], "--json")
    assert replayed.code == ExitCode.OK, replayed.stderr
    assert replayed.json()["run_id"] == run["run_id"], f"got {replayed.stdout}"


def test_runs_list_and_show(cli: Cli) -> None:
    """`runs list --json` finds a finished run by workflow; `runs show --events`
    gives its record and every event in order, ending with run.completed."""
    started = cli("run", "hello", "-i", '{"name": "listing"}', "--json").json()
    listed = cli("runs", "list", "--workflow", "hello", "--limit", "50", "--json")
    assert listed.code == ExitCode.OK, listed.stderr
    ids = [item["run_id"] for item in listed.json()["items"]]
    assert started["run_id"] in ids, f"run missing from {ids}"

    shown = cli("runs", "show", started["run_id"], "--events", "--json")
    assert shown.code == ExitCode.OK, shown.stderr
    body = shown.json()
    seqs = [event["seq"] for event in body["events"]]
    assert seqs == list(range(1, body["last_seq"] + 1)), f"gap or repeat: {seqs}"
    assert body["events"][-1]["type"] == "run.completed", body["events"][-1]

    table = cli("runs", "list", "--limit", "5")
    assert table.code == ExitCode.OK, table.stderr
    assert started["run_id"] in table.stdout, f"full run id expected:\n{table.stdout}"


def test_unknown_run_and_workflow_exit_4(cli: Cli) -> None:
    """A run or workflow that does not exist is exit code 4 with the server's error."""
    missing = cli("runs", "show", "no-such-run", "--json")
    assert missing.code == ExitCode.NOT_FOUND, missing.stderr
    assert missing.error()["error"] == "RunNotFoundError", missing.stderr
    assert missing.stdout == "", f"nothing expected on stdout: {missing.stdout}"
    unknown = cli("run", "no_such_workflow")
    assert unknown.code == ExitCode.NOT_FOUND, unknown.stderr
    assert "no_such_workflow" in unknown.stderr, unknown.stderr


def test_bad_input_is_a_usage_error(cli: Cli) -> None:
    """Input that is not JSON, or that the workflow rejects, exits 2 and says why."""
    not_json = cli("run", "hello", "--input", "{name")
    assert not_json.code == ExitCode.USAGE, not_json.stderr
    assert "not valid JSON" in not_json.stderr, not_json.stderr
    invalid = cli("run", "hello", "--input", "{}", "--json")
    assert invalid.code == ExitCode.USAGE, invalid.stderr
    assert invalid.error()["error"] == "ValidationFailedError", invalid.stderr
    assert "name" in invalid.error()["message"], invalid.stderr


def test_unreachable_server_exits_5(tmp_path: Path) -> None:
    """With nothing listening at --url the CLI exits 5 and names the URL."""
    url = f"http://127.0.0.1:{free_port()}"
    result = run_cli(("runs", "list", "--url", url), tmp_path)
    assert result.code == ExitCode.UNAVAILABLE, result.stderr
    assert url in result.stderr, f"URL missing from: {result.stderr}"


def test_signal_query_and_idempotent_follow(cli: Cli) -> None:
    """An approval run waits for its signal: query shows it waiting, the signal
    completes it, and `run` with the same idempotency key follows that run."""
    run_id = cli("run", "approval", "--no-wait", "--idempotency-key", "e2e-a").stdout
    run_id = run_id.strip()
    assert run_id, "--no-wait should print the run id"
    status = _poll_query(cli, run_id)
    assert status == '"waiting for approval"', f"got {status}"
    sent = cli("runs", "signal", run_id, "approve", "-p", '{"by": "ann"}')
    assert sent.code == ExitCode.OK, sent.stderr
    followed = cli("run", "approval", "--idempotency-key", "e2e-a", "--json")
    assert followed.code == ExitCode.OK, followed.stderr
    run = followed.json()
    assert run["run_id"] == run_id, "the same idempotency key should give the run"
    assert run["output"] == {"request": "deploy", "approved": True, "by": "ann"}


def test_cancelled_run_exits_3_and_timeout_exits_6(cli: Cli) -> None:
    """Waiting past --timeout exits 6; a cancelled run's `run` exits 3."""
    timed = cli("run", "approval", "--idempotency-key", "e2e-c", "--timeout", "0.5")
    assert timed.code == ExitCode.TIMED_OUT, timed.stderr
    run_id = cli("runs", "list", "--workflow", "approval", "--json").json()["items"]
    target = [r["run_id"] for r in run_id if r["idempotency_key"] == "e2e-c"]
    assert len(target) == 1, f"expected the timed-out run: {run_id}"
    cancelled = cli("runs", "cancel", target[0], "--json")
    assert cancelled.code == ExitCode.OK, cancelled.stderr
    followed = cli("run", "approval", "--idempotency-key", "e2e-c", "--json")
    assert followed.code == ExitCode.RUN_CANCELLED, followed.stderr
    assert followed.json()["status"] == "cancelled", followed.stdout


def test_progress_rendering_prints_the_output(cli: Cli) -> None:
    """Without --json, `run pipeline` shows progress on stderr (plain lines when
    not a terminal) and the output on stdout."""
    result = cli("run", "pipeline", "--input", '{"items": 4, "delay_s": 0.05}')
    assert result.code == ExitCode.OK, result.stderr
    assert '"total": 30' in result.stdout, f"output missing: {result.stdout}"
    assert "[100%] done" in result.stderr, f"no progress lines: {result.stderr}"
    assert "completed" in result.stderr, result.stderr


def test_progress_bar_on_a_terminal(cli: Cli) -> None:
    """On a terminal (forced with TTY_COMPATIBLE), the live bar renders, retries
    are reported above it, and the output is printed."""
    result = cli("run", "flaky", "--input", '{"failures": 1}', TTY_COMPATIBLE="1")
    assert result.code == ExitCode.OK, result.stderr
    assert "succeeded on attempt 2" in result.stdout, result.stdout
    assert "retrying in" in result.stderr, f"retry not shown: {result.stderr}"
    assert "1 step " in result.stderr, f"the bar should count steps: {result.stderr}"
    assert "completed" in result.stderr, result.stderr


def test_interrupt_exits_130(server: ServerProcess, tmp_path: Path) -> None:
    """Ctrl-C while watching a run exits 130 and says the run carries on."""
    process = subprocess.Popen(
        [sys.executable, "-m", "conveyor.cli", "run", "approval", "--url", server.url],
        cwd=tmp_path,
        env=cli_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # "run ... started": it is watching now
        assert "started" in first, f"unexpected first line: {first!r}"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == ExitCode.INTERRUPTED, stderr
    assert "carries on" in stderr, stderr


def test_run_local_needs_no_server(tmp_path: Path) -> None:
    """`run --local` executes in-process on the embedded store, with no server."""
    env = cli_env(tmp_path, CONVEYOR_URL=f"http://127.0.0.1:{free_port()}")
    result = run_cli(
        ("run", "hello", "--local", "-i", '{"name": "local"}', "--json"), tmp_path, env
    )
    assert result.code == ExitCode.OK, result.stderr
    assert result.json()["output"] == {"greeting": "Hello, Local!"}
    assert (tmp_path / "conveyor.db").exists(), "the local store should be used"


def test_help_documents_exit_codes(tmp_path: Path) -> None:
    """`--help` lists the exit codes."""
    result = run_cli(("run", "--help"), tmp_path)
    assert result.code == ExitCode.OK, result.stderr
    for code in ExitCode:
        assert f"{int(code)} " in result.stdout, f"exit code {code} not documented"


def _poll_query(cli: Cli, run_id: str) -> str:
    """The run's "status" query, once the run has published it."""
    deadline = time.monotonic() + 10
    while True:
        result = cli("runs", "query", run_id, "status")
        if result.code == ExitCode.OK or time.monotonic() > deadline:
            return result.stdout.strip()
        time.sleep(0.2)
