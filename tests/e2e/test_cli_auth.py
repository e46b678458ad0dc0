"""The CLI against a server that requires API keys and an admin key: keys come from
options or CONVEYOR_* variables, and refusals have their own exit code."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import ServerProcess, cli_env, run_cli, serving

from conveyor.cli.exits import ExitCode

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", name="locked")
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server with tenant keys a:key-a and b:key-b and an admin key."""
    with serving(
        tmp_path_factory.mktemp("locked"),
        CONVEYOR_API_KEYS="a:key-a,b:key-b",
        CONVEYOR_ADMIN_KEY="admin-secret",
    ) as running:
        yield running


def test_api_key_is_required_and_selects_the_tenant(
    locked: ServerProcess, tmp_path: Path
) -> None:
    """Without a key the request is refused (exit 2); with one the run is followed
    over the authenticated stream; another tenant cannot see it (exit 4)."""
    env = cli_env(tmp_path, CONVEYOR_URL=locked.url)
    refused = run_cli(("runs", "list", "--json"), tmp_path, env)
    assert refused.code == ExitCode.USAGE, refused.stderr
    assert refused.error()["status"] == 401, refused.stderr

    done = run_cli(
        ("run", "hello", "-i", '{"name": "a"}', "--api-key", "key-a"), tmp_path, env
    )
    assert done.code == ExitCode.OK, done.stderr
    assert "Hello, A!" in done.stdout, done.stdout

    env_a = cli_env(tmp_path, CONVEYOR_URL=locked.url, CONVEYOR_API_KEY="key-a")
    run_id = run_cli(("runs", "list", "--json"), tmp_path, env_a).json()["items"][0]
    foreign = run_cli(
        ("runs", "show", run_id["run_id"], "--api-key", "key-b"), tmp_path, env
    )
    assert foreign.code == ExitCode.NOT_FOUND, foreign.stderr


def test_replay_needs_the_admin_key(locked: ServerProcess, tmp_path: Path) -> None:
    """Replaying a dead letter without the admin key is refused (exit 2, 403);
    with CONVEYOR_ADMIN_KEY it goes through."""
    env = cli_env(tmp_path, CONVEYOR_URL=locked.url, CONVEYOR_API_KEY="key-a")
    failed = run_cli(("run", "always_fails", "--json"), tmp_path, env)
    assert failed.code == ExitCode.RUN_FAILED, failed.stderr
    letters = run_cli(("dlq", "list", "--json"), tmp_path, env).json()["items"]
    letter = next(i for i in letters if i["run_id"] == failed.json()["run_id"])

    denied = run_cli(("dlq", "replay", letter["id"], "--json"), tmp_path, env)
    assert denied.code == ExitCode.USAGE, denied.stderr
    assert denied.error()["status"] == 403, denied.stderr

    admin = {**env, "CONVEYOR_ADMIN_KEY": "admin-secret"}
    replayed = run_cli(("dlq", "replay", letter["id"], "--json"), tmp_path, admin)
    assert replayed.code == ExitCode.OK, replayed.stderr
