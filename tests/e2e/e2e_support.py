"""Helpers for end-to-end tests of the `conveyor` command: free ports, the CLI's
environment, running the CLI the way a user does (a separate process, its exit code,
its output), and starting and stopping `conveyor serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

STARTUP_TIMEOUT_S = 30.0
CLI_TIMEOUT_S = 60.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(workdir: Path, **extra: str) -> dict[str, str]:
    """The environment of a CLI process: no inherited CONVEYOR_* settings, the store
    in `workdir`, and no colours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONVEYOR_")}
    env.update(
        CONVEYOR_STORE_URL=f"sqlite:///{workdir}/conveyor.db",
        NO_COLOR="1",
        PYTHONUNBUFFERED="1",
        COLUMNS="200",
    )
    env.pop("TTY_COMPATIBLE", None)
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


@dataclass(frozen=True, slots=True)
class Result:
    """What a CLI process did."""

    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        """stdout parsed as JSON."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            raise AssertionError(
                f"stdout is not JSON:\n{self.stdout}\nstderr:\n{self.stderr}"
            ) from None

    def error(self) -> dict[str, Any]:
        """The JSON error object printed on stderr with --json."""
        lines = [line for line in self.stderr.splitlines() if line.startswith("{")]
        assert lines, f"no JSON error on stderr:\n{self.stderr}"
        body: dict[str, Any] = json.loads(lines[-1])
        return body


Cli = Callable[..., Result]


def run_cli(
    args: tuple[str, ...], workdir: Path, env: dict[str, str] | None = None
) -> Result:
    """Run `conveyor ARGS` as a user would and wait for it."""
    done = subprocess.run(
        [sys.executable, "-m", "conveyor.cli", *args],
        cwd=workdir,
        env=env or cli_env(workdir),
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


@dataclass(frozen=True, slots=True)
class ServerProcess:
    """A running `conveyor serve`."""

    url: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path


def stop(process: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it does not go within 10 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def wait_healthy(server: ServerProcess) -> None:
    """Poll /healthz until it answers 200; fail with the server's log otherwise."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        try:
            response = httpx.get(f"{server.url}/healthz", timeout=1.0)
            if response.status_code == 200:
                return
            last = f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.1)
    stop(server.process)
    log = server.log.read_text(errors="replace")
    pytest.fail(
        f"conveyor serve did not become healthy ({last}; exit "
        f"{server.process.returncode}); its output:\n{log}"
    )


@contextmanager
def serving(workdir: Path, **env: str) -> Iterator[ServerProcess]:
    """Run `conveyor serve` (examples mounted) on a free port with its store and
    log in `workdir` and extra environment `env`; stopped on exit."""
    port = free_port()
    log = workdir / "server.log"
    command = [sys.executable, "-m", "conveyor.cli", "serve", "--port", str(port)]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*command, "--log-level", "warning"],
            cwd=workdir,
            env=cli_env(workdir, **env),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    running = ServerProcess(f"http://127.0.0.1:{port}", process, workdir, log)
    try:
        wait_healthy(running)
        yield running
    finally:
        stop(process)
