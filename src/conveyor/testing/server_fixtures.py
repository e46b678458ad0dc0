"""Pytest fixtures for real servers: one per session, a fresh database per test.

Plain fixtures, imported by the conveyor pytest plugin; each honours its environment
override (`DATABASE_URL`, `NATS_URL`, `TEMPORAL_ADDRESS`) and otherwise starts a
server from the wheels in the `servers` extra. A server that cannot start fails the
tests that use it with the reason; nothing is skipped.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from conveyor.testing.servers import (
    AnyPostgresServer,
    ExternalServer,
    NatsServer,
    PostgresDatabase,
    TemporalServer,
    nats_server_from_env,
    postgres_server_from_env,
    temporal_server_from_env,
)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[AnyPostgresServer]:
    """A PostgreSQL server for the session: `DATABASE_URL`'s, or our own."""
    with postgres_server_from_env() as server:
        yield server


@pytest.fixture(scope="session")
def nats_server() -> Iterator[NatsServer | ExternalServer]:
    """A NATS server with JetStream for the session: `NATS_URL`'s, or our own."""
    with nats_server_from_env() as server:
        yield server


@pytest.fixture(scope="session")
def temporal_server() -> Iterator[TemporalServer | ExternalServer]:
    """A Temporal server for the session: `TEMPORAL_ADDRESS`'s, or our own."""
    with temporal_server_from_env() as server:
        yield server


@pytest.fixture
def postgres_database(
    postgres_server: AnyPostgresServer,
) -> Iterator[PostgresDatabase]:
    """A new empty database for one test, dropped (sessions and all) after it."""
    database = postgres_server.create_database(f"test_{uuid.uuid4().hex[:16]}")
    try:
        yield database
    finally:
        postgres_server.drop_database(database.name)
