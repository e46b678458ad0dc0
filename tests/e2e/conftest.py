"""Fixtures for end-to-end tests of the `conveyor` command: a real `conveyor serve`
subprocess on a free loopback port with its store in a temp dir, and `cli` to run
the command against it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import (
    Cli,
    Result,
    ServerProcess,
    cli_env,
    free_port,
    run_cli,
    stop,
    wait_healthy,
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`conveyor serve` with the examples, on a free port, store in a temp dir."""
    workdir = tmp_path_factory.mktemp("serve")
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "conveyor.cli",
                "serve",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=workdir,
            env=cli_env(workdir),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = ServerProcess(f"http://127.0.0.1:{port}", process, workdir, log)
    try:
        wait_healthy(running)
        yield running
    finally:
        stop(process)


@pytest.fixture(name="cli")
def cli_fixture(server: ServerProcess, tmp_path: Path) -> Cli:
    """Run the CLI against the test server: `cli("runs", "list", "--json")`."""

    def call(*args: str, **env: str) -> Result:
        return run_cli(
            args, tmp_path, cli_env(tmp_path, CONVEYOR_URL=server.url, **env)
        )

    return call
