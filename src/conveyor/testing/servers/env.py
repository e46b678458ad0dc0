"""Choose between a server named by the environment and one started here.

`DATABASE_URL`, `NATS_URL` and `TEMPORAL_ADDRESS` point the test kit at servers
that already run (CI services, a developer's own); unset or empty, it starts its own.
"""

from __future__ import annotations

import os

from conveyor.testing.servers.base import ExternalServer
from conveyor.testing.servers.nats import NatsServer
from conveyor.testing.servers.postgres import (
    AnyPostgresServer,
    ExternalPostgresServer,
    PostgresServer,
)
from conveyor.testing.servers.temporal import TemporalServer

DATABASE_URL = "DATABASE_URL"
NATS_URL = "NATS_URL"
TEMPORAL_ADDRESS = "TEMPORAL_ADDRESS"


def postgres_url_from_env() -> str | None:
    """The PostgreSQL URL in `DATABASE_URL`, or None when unset or empty."""
    return _from_env(DATABASE_URL)


def nats_url_from_env() -> str | None:
    """The NATS URL in `NATS_URL`, or None when unset or empty."""
    return _from_env(NATS_URL)


def temporal_address_from_env() -> str | None:
    """The Temporal `host:port` in `TEMPORAL_ADDRESS`, or None when unset or empty."""
    return _from_env(TEMPORAL_ADDRESS)


def postgres_server_from_env() -> AnyPostgresServer:
    """The server at `DATABASE_URL` if set, else a new (unstarted) local one."""
    url = postgres_url_from_env()
    return PostgresServer() if url is None else ExternalPostgresServer(url)


def nats_server_from_env() -> NatsServer | ExternalServer:
    """The server at `NATS_URL` if set, else a new (unstarted) local one."""
    url = nats_url_from_env()
    return NatsServer() if url is None else ExternalServer(url, kind="nats")


def temporal_server_from_env() -> TemporalServer | ExternalServer:
    """The server at `TEMPORAL_ADDRESS` if set, else a new (unstarted) local one."""
    address = temporal_address_from_env()
    if address is None:
        return TemporalServer()
    return ExternalServer(address, kind="temporal")


def _from_env(name: str) -> str | None:
    return os.environ.get(name, "").strip() or None
