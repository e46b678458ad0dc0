"""Fixtures for end-to-end tests of the `conveyor` command: a real `conveyor serve`
subprocess on a free loopback port with its store in a temp dir, and `cli` to run
the command against it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import Cli, Result, ServerProcess, cli_env, run_cli, serving


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`conveyor serve` with the examples, on a free port, store in a temp dir."""
    with serving(tmp_path_factory.mktemp("serve")) as running:
        yield running


@pytest.fixture(name="cli")
def cli_fixture(server: ServerProcess, tmp_path: Path) -> Cli:
    """Run the CLI against the test server: `cli("runs", "list", "--json")`."""

    def call(*args: str, **env: str) -> Result:
        return run_cli(
            args, tmp_path, cli_env(tmp_path, CONVEYOR_URL=server.url, **env)
        )

    return call
