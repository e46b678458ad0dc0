"""The server interface of the test kit, its errors, and small shared helpers.

A `Server` is something tests connect to by `url`; an `ExternalServer` is one that
someone else runs, named by an environment variable.
"""

from __future__ import annotations

import abc
import importlib.metadata
import os
import shutil
import socket
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Self

from conveyor.errors import ConveyorError

HOST = "127.0.0.1"
SHM_DIR = Path("/dev/shm")
SHM_MIN_FREE_BYTES = 1 << 30


class ServerError(ConveyorError, RuntimeError):
    """A test server could not be found, started, stopped or used."""


class ServerStartError(ServerError):
    """A test server did not come up."""


def free_port(host: str = HOST) -> int:
    """Return a TCP port that was free a moment ago (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(host: str, port: int, timeout_s: float = 0.25) -> bool:
    """Return whether something accepts TCP connections on `host:port`."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def find_executable(name: str, dist: str) -> Path:
    """Find executable `name` shipped by the wheel `dist`, else on `PATH`.

    Raises:
        ServerError: neither the wheel nor `PATH` has it.
    """
    try:
        files: Iterable[importlib.metadata.PackagePath] = (
            importlib.metadata.files(dist) or ()
        )
    except importlib.metadata.PackageNotFoundError:
        files = ()
    for file in files:
        if file.name == name:
            path = Path(str(file.locate())).resolve()
            if path.is_file():
                return path
    found = shutil.which(name)
    if found is None:
        raise ServerError(
            f"cannot find {name!r}: install the {dist!r} wheel "
            f"(pip install 'conveyor[servers]') or put {name} on PATH"
        )
    return Path(found)


def default_base_dir() -> Path:
    """Where servers put their temp dirs: `/dev/shm` if roomy, else the temp dir.

    On a RAM file system `CREATE DATABASE` takes ~20 ms instead of 100–400 ms on a
    virtual disk; a process crash (SIGKILL) loses nothing either way.
    """
    try:
        usage = os.statvfs(SHM_DIR)
    except OSError:
        return Path(tempfile.gettempdir())
    roomy = usage.f_bavail * usage.f_frsize >= SHM_MIN_FREE_BYTES
    return (
        SHM_DIR
        if roomy and os.access(SHM_DIR, os.W_OK)
        else Path(tempfile.gettempdir())
    )


def clean_env(*prefixes: str, **extra: str) -> dict[str, str]:
    """Copy the environment without variables that start with `prefixes`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(extra)
    return env


class Server(abc.ABC):
    """A server the tests talk to: started here or already running elsewhere."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """Where clients connect."""

    @property
    def pid(self) -> int | None:
        """The server's process id, or None when it does not run here."""
        return None

    @property
    def data_dir(self) -> Path | None:
        """The temp dir holding the server's data and log, or None."""
        return None

    @abc.abstractmethod
    def start(self) -> None:
        """Make the server ready for clients."""

    @abc.abstractmethod
    def stop(self) -> None:
        """Stop the server and remove what it left; safe to call twice."""

    @abc.abstractmethod
    def restart(self) -> None:
        """Stop and start again on the same port with the same data."""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class ExternalServer(Server):
    """A server run by someone else; starting and stopping it do nothing."""

    def __init__(self, url: str, *, kind: str = "server") -> None:
        self._url = url
        self.kind = kind

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._url!r}, kind={self.kind!r})"

    @property
    def url(self) -> str:
        """The URL or address given by the environment."""
        return self._url

    def start(self) -> None:
        """Do nothing: the server already runs."""

    def stop(self) -> None:
        """Do nothing: the server is not ours to stop."""

    def restart(self) -> None:
        """Refuse: restarting needs a server we own."""
        raise ServerError(f"the {self.kind} at {self._url} is external; cannot restart")
