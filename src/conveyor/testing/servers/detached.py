"""Servers for local development that outlive the command starting them
(`conveyor servers up|down|status`).

`up` starts PostgreSQL and NATS (JetStream) from the wheels, detached, each in a
directory under `<dir>/servers/`, and records their pids and URLs in
`<dir>/servers.json`; `down` stops them by pid (checking the pid still runs that
server) and removes their directories; `status` says whether each answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from conveyor.testing.servers.base import ServerError, port_open
from conveyor.testing.servers.databases import database_url
from conveyor.testing.servers.nats import NatsServer, server_info
from conveyor.testing.servers.postgres import PostgresServer
from conveyor.testing.servers.process import ServerProcess

STATE_FILE = "servers.json"
DATABASE = "conveyor"
STOP_TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class DetachedServer:
    """A server started by `up`: what `down` and `status` need to find it."""

    name: str
    pid: int
    url: str
    dir: str

    @property
    def port(self) -> int:
        """The TCP port in `url`."""
        return int(urlsplit(self.url).port or 0)


def state_path(directory: Path) -> Path:
    """Where `up` records its servers."""
    return directory / STATE_FILE


def load(directory: Path) -> dict[str, DetachedServer]:
    """The servers recorded in `directory` (none if it has no state file)."""
    try:
        data = json.loads(state_path(directory).read_text())
    except FileNotFoundError:
        return {}
    except ValueError as exc:
        raise ServerError(f"{state_path(directory)} is not valid JSON: {exc}") from exc
    return {name: DetachedServer(**entry) for name, entry in data.items()}


def up(
    directory: Path, *, postgres: bool = True, nats: bool = True, durable: bool = False
) -> dict[str, DetachedServer]:
    """Start the servers not already answering; return every recorded server.

    Raises:
        ServerError: a server could not start (those started are stopped again).
    """
    servers = {name: s for name, s in load(directory).items() if answers(s)}
    wanted: dict[str, ServerProcess] = {}
    base = directory.resolve() / "servers"  # the servers run in their own folders
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)  # PostgreSQL runs as another user when we are root
    if postgres and "postgres" not in servers:
        wanted["postgres"] = PostgresServer(
            durable=durable, base_dir=base, detached=True
        )
    if nats and "nats" not in servers:
        wanted["nats"] = NatsServer(base_dir=base, detached=True)
    started: list[ServerProcess] = []
    try:
        for name, server in wanted.items():
            server.start()
            started.append(server)
            assert server.pid is not None
            assert server.data_dir is not None
            servers[name] = DetachedServer(
                name, server.pid, server.url, str(server.data_dir)
            )
            if isinstance(server, PostgresServer):
                server.create_database(DATABASE)
    except BaseException:
        for server in started:
            server.stop()
        raise
    _save(directory, servers)
    return servers


def down(directory: Path) -> list[str]:
    """Stop the recorded servers, remove their directories and the state file;
    return the names of those that were running."""
    stopped = []
    for name, server in load(directory).items():
        if _stop(server):
            stopped.append(name)
        shutil.rmtree(server.dir, ignore_errors=True)
    with contextlib.suppress(FileNotFoundError):
        state_path(directory).unlink()
    return stopped


def answers(server: DetachedServer) -> bool:
    """Whether the server's process runs and answers on its port."""
    if not _runs(server):
        return False
    if server.name == "nats":
        return server_info(server.port) is not None
    return port_open("127.0.0.1", server.port)


def env_vars(servers: dict[str, DetachedServer]) -> dict[str, str]:
    """The variables pointing conveyor (and the test kit) at the servers."""
    found: dict[str, str] = {}
    if "postgres" in servers:
        found["CONVEYOR_STORE_URL"] = database_url(servers["postgres"].url, DATABASE)
        found["DATABASE_URL"] = servers["postgres"].url
    if "nats" in servers:
        found["CONVEYOR_BUS_URL"] = servers["nats"].url
        found["NATS_URL"] = servers["nats"].url
    return found


def _save(directory: Path, servers: dict[str, DetachedServer]) -> None:
    data = {name: asdict(server) for name, server in servers.items()}
    path = state_path(directory)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(path)


def _runs(server: DetachedServer) -> bool:
    """Whether `server.pid` is still that server (not a reused pid)."""
    try:
        command = Path(f"/proc/{server.pid}/cmdline").read_bytes()
    except OSError:
        return False
    return server.dir.encode() in command


def _stop(server: DetachedServer) -> bool:
    """Signal the server (PostgreSQL: fast shutdown), wait, then kill its group."""
    if not _runs(server):
        return False
    stop = signal.SIGINT if server.name == "postgres" else signal.SIGTERM
    with contextlib.suppress(ProcessLookupError):
        os.kill(server.pid, stop)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while _runs(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(server.pid, signal.SIGKILL)  # it leads its own process group
    return True
