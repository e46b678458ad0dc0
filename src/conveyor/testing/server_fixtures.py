"""Pytest fixtures for real servers: one per session, a fresh database per test.

Plain fixtures, imported by the conveyor pytest plugin; each honours its environment
override (`DATABASE_URL`, `NATS_URL`, `TEMPORAL_ADDRESS`) and otherwise starts a
server from the wheels in the `servers` extra. A server that cannot start fails the
tests that use it with the reason; nothing is skipped. `conveyor_database` clones a
database migrated once per session, so a test does not pay for the migrations.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

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


@pytest.fixture(scope="session")
def conveyor_template(postgres_server: AnyPostgresServer) -> Iterator[str]:
    """The name of a database at conveyor's newest schema, for tests to clone."""
    from ..migrations import upgrade

    database = postgres_server.create_database(f"template_{uuid.uuid4().hex[:12]}")
    try:
        # Alembic runs its own event loop: off any loop a test may be running.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(upgrade, database.url).result()
        yield database.name
    finally:
        postgres_server.drop_database(database.name)


@pytest.fixture
def conveyor_database(
    postgres_server: AnyPostgresServer, conveyor_template: str
) -> Iterator[PostgresDatabase]:
    """A new database with conveyor's tables (a copy of the migrated template),
    dropped after the test."""
    name = f"test_{uuid.uuid4().hex[:16]}"
    database = postgres_server.create_database(name, template=conveyor_template)
    try:
        yield database
    finally:
        postgres_server.drop_database(database.name)
