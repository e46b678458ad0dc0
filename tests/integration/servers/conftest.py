"""Load the server fixtures for these tests (the conveyor plugin will do it later)."""

from __future__ import annotations

from conveyor.testing.server_fixtures import (
    nats_server,
    postgres_database,
    postgres_server,
    temporal_server,
)

__all__ = ["nats_server", "postgres_database", "postgres_server", "temporal_server"]
