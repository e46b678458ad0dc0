"""Real PostgreSQL, NATS and Temporal servers for tests, started from PyPI wheels.

Each launcher runs its server as a direct child bound to 127.0.0.1 in a temp dir,
waits until it answers, and leaves no process or file behind; environment variables
(`DATABASE_URL`, `NATS_URL`, `TEMPORAL_ADDRESS`) substitute existing servers.
"""

from __future__ import annotations

from conveyor.testing.servers.base import ExternalServer as ExternalServer
from conveyor.testing.servers.base import Server as Server
from conveyor.testing.servers.base import ServerError as ServerError
from conveyor.testing.servers.base import ServerStartError as ServerStartError
from conveyor.testing.servers.base import default_base_dir as default_base_dir
from conveyor.testing.servers.base import free_port as free_port
from conveyor.testing.servers.databases import PostgresDatabase as PostgresDatabase
from conveyor.testing.servers.databases import create_database as create_database
from conveyor.testing.servers.databases import drop_database as drop_database
from conveyor.testing.servers.databases import postgres_bin_dir as postgres_bin_dir
from conveyor.testing.servers.env import nats_server_from_env as nats_server_from_env
from conveyor.testing.servers.env import nats_url_from_env as nats_url_from_env
from conveyor.testing.servers.env import (
    postgres_server_from_env as postgres_server_from_env,
)
from conveyor.testing.servers.env import postgres_url_from_env as postgres_url_from_env
from conveyor.testing.servers.env import (
    temporal_address_from_env as temporal_address_from_env,
)
from conveyor.testing.servers.env import (
    temporal_server_from_env as temporal_server_from_env,
)
from conveyor.testing.servers.nats import NatsServer as NatsServer
from conveyor.testing.servers.postgres import AnyPostgresServer as AnyPostgresServer
from conveyor.testing.servers.postgres import (
    ExternalPostgresServer as ExternalPostgresServer,
)
from conveyor.testing.servers.postgres import PostgresServer as PostgresServer
from conveyor.testing.servers.process import ServerProcess as ServerProcess
from conveyor.testing.servers.temporal import TemporalServer as TemporalServer

__all__ = [
    "AnyPostgresServer",
    "ExternalPostgresServer",
    "ExternalServer",
    "NatsServer",
    "PostgresDatabase",
    "PostgresServer",
    "Server",
    "ServerError",
    "ServerProcess",
    "ServerStartError",
    "TemporalServer",
    "create_database",
    "default_base_dir",
    "drop_database",
    "free_port",
    "nats_server_from_env",
    "nats_url_from_env",
    "postgres_bin_dir",
    "postgres_server_from_env",
    "postgres_url_from_env",
    "temporal_address_from_env",
    "temporal_server_from_env",
]
