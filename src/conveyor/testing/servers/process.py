"""A server run as a direct child process that dies with the test runner.

`ServerProcess` owns one temp dir (data and log) and one process bound to 127.0.0.1:
it picks ports, retries a lost port race, waits for readiness with a deadline, and
stops with a signal, a wait and a kill, leaving no process and no file behind.
"""

from __future__ import annotations

import abc
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, ClassVar

from conveyor.testing.servers import base
from conveyor.testing.servers.base import (
    Server,
    ServerError,
    ServerStartError,
    default_base_dir,
)

LOG_NAME = "server.log"
LOG_TAIL_LINES = 40
PORT_ATTEMPTS = 4
KILL_WAIT_S = 1.0
_PR_SET_PDEATHSIG = 1


class ServerProcess(Server):
    """A server run as a direct child bound to 127.0.0.1, in its own temp dir.

    Subclasses say how to spawn the process (`_spawn`) and when it is ready
    (`_ready`); this class picks ports, retries a lost port race, waits with a
    deadline, stops, and cleans up. `base_dir` is where the temp dir goes
    (default: `default_base_dir()`). A `detached` server outlives this process
    (`conveyor servers up`); whoever stops it goes by its pid.
    """

    name: ClassVar[str] = "server"
    stop_signal: ClassVar[signal.Signals] = signal.SIGTERM
    death_signal: ClassVar[signal.Signals] = signal.SIGTERM
    picks_port: ClassVar[bool] = True  # False: the server chooses and reports it

    def __init__(
        self,
        *,
        start_timeout_s: float,
        stop_timeout_s: float,
        base_dir: Path | str | None = None,
        detached: bool = False,
    ) -> None:
        self.start_timeout_s = start_timeout_s
        self.detached = detached
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.stop_timeout_s = stop_timeout_s
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._log: IO[bytes] | None = None
        self._log_offset = 0

    def __repr__(self) -> str:
        state = f"pid={self.pid}, port={self._port}" if self._process else "stopped"
        return f"{type(self).__name__}({state})"

    @property
    def port(self) -> int:
        """The TCP port the server listens on."""
        if self._port is None:
            raise ServerError(f"{self.name} has not been started")
        return self._port

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._process.pid if self._process else None

    @property
    def data_dir(self) -> Path | None:
        """The temp dir holding data and `server.log`, until `stop()`."""
        return self._dir

    @property
    def log_path(self) -> Path:
        """The server's combined stdout and stderr."""
        return self._require_dir() / LOG_NAME

    def start(self) -> None:
        """Create the temp dir, start the server, and wait until it is ready."""
        if self._dir is not None:
            raise ServerError(f"{self.name} is already started")
        _require_main_thread()
        base_dir = self.base_dir or default_base_dir()
        self._dir = Path(
            tempfile.mkdtemp(prefix=f"conveyor-{self.name}-", dir=base_dir)
        )
        try:
            self._prepare()
            self._launch(None)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop the server (signal, wait, then kill) and remove the temp dir."""
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        self._port = None

    def restart(self) -> None:
        """Stop gracefully and start again on the same port with the same data."""
        port = self.port
        _require_main_thread()
        self._terminate()
        self._launch(port)

    def kill(self) -> None:
        """SIGKILL the server and its helpers, keeping the data for `restart()`.

        A crash as the kernel would cause it; with `durable=False` PostgreSQL may
        lose its last commits (`synchronous_commit=off`).
        """
        if self._process is not None:
            _kill_group(self._process.pid)
            self._process.wait()
        self._terminate()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """The last `lines` lines of the server log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except (OSError, ServerError):
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def _prepare(self) -> None:
        """One-time set-up in the fresh temp dir before the first launch."""

    @abc.abstractmethod
    def _spawn(self, port: int | None) -> subprocess.Popen[bytes]:
        """Start the server process (through `_popen`) to listen on `port`."""

    @abc.abstractmethod
    def _ready(self) -> bool:
        """Return whether the just-spawned server accepts clients."""

    def _launch(self, port: int | None) -> None:
        attempts = PORT_ATTEMPTS if port is None and self.picks_port else 1
        for attempt in range(1, attempts + 1):
            chosen = (
                port if port is not None or not self.picks_port else base.free_port()
            )
            self._port = chosen
            self._process = self._spawn(chosen)
            try:
                self._wait_ready()
            except ServerStartError:
                lost_race = (
                    attempt < attempts
                    and self._process.poll() is not None
                    and "address already in use" in self._launch_log().lower()
                )
                self._terminate()
                if not lost_race:
                    raise
            else:
                return

    def _popen(self, argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Spawn `argv` as a direct child that dies with us, logging to the dir."""
        directory = self._require_dir()
        if self._log is None:
            self._log = (directory / LOG_NAME).open("ab")
        self._log.write(f"--- conveyor: {' '.join(argv)}\n".encode())
        self._log.flush()
        self._log_offset = self._log.tell()
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            preexec_fn=None if self.detached else _die_with_parent(self.death_signal),
            start_new_session=True,  # keep a terminal's Ctrl-C from reaching it
            **kwargs,
        )

    def _run(self, argv: list[str], **kwargs: Any) -> None:
        """Run a set-up command to completion with its output in the log."""
        process = self._popen(argv, **kwargs)
        try:
            code = process.wait(self.start_timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            code = None
        if code != 0:
            problem = "timed out" if code is None else f"exited with code {code}"
            raise self._start_error(f"set-up step {Path(argv[0]).name} {problem}")

    def _wait_ready(self) -> None:
        process = self._process
        assert process is not None
        deadline = time.monotonic() + self.start_timeout_s
        pause_s = 0.005
        while True:
            code = process.poll()
            if code is not None:
                raise self._start_error(f"exited with code {code} while starting")
            if self._ready():
                return
            if time.monotonic() > deadline:
                raise self._start_error(f"not ready after {self.start_timeout_s} s")
            time.sleep(pause_s)
            pause_s = min(pause_s * 2, 0.1)

    def _start_error(self, problem: str) -> ServerStartError:
        return ServerStartError(
            f"{self.name} {problem} (port {self._port}, dir {self._dir}); "
            f"last lines of {LOG_NAME}:\n{self.log_tail()}"
        )

    def _launch_log(self) -> str:
        with self.log_path.open("rb") as log:
            log.seek(self._log_offset)
            return log.read().decode(errors="replace")

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process is not None:
            _kill_group(process.pid)  # helpers that outlived the server, if any
        if self._log is not None:
            self._log.close()
            self._log = None

    def _require_dir(self) -> Path:
        if self._dir is None:
            raise ServerError(f"{self.name} has not been started")
        return self._dir


def _die_with_parent(sig: signal.Signals) -> Callable[[], None] | None:
    """Build a `preexec_fn` that makes the child receive `sig` when we die."""
    if not sys.platform.startswith("linux"):  # pragma: no cover - prctl is Linux-only
        return None
    libc = ctypes.CDLL(None, use_errno=True)  # loaded here: no imports after fork
    parent_pid = os.getpid()

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        if os.getppid() != parent_pid:  # pragma: no cover - parent died during fork
            os.kill(os.getpid(), sig)

    return preexec


def _kill_group(group_id: int) -> None:
    """SIGKILL the server's process group (it leads its own session) and wait.

    Killed helpers are reparented to init, which may reap them late; a zombie holds
    no port or shared memory, so waiting stops once only zombies are left.
    """
    try:
        os.killpg(group_id, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        return  # the group is gone (PermissionError: its id was reused)
    deadline = time.monotonic() + KILL_WAIT_S
    while _live_group_members(group_id) and time.monotonic() < deadline:
        time.sleep(0.005)


def _live_group_members(group_id: int) -> bool:
    """Whether a process of group `group_id` still runs (Linux `/proc`)."""
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # exited while we looked
        if fields[0] != "Z" and int(fields[2]) == group_id:
            return True
    return False


def _require_main_thread() -> None:
    if threading.current_thread() is not threading.main_thread():
        raise ServerError(
            "start servers from the main thread: the kernel sends the death "
            "signal when the forking thread ends, not the process"
        )
