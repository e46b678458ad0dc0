"""Alembic's entry point for the platform's tables: migrate the connection handed
over, inside its transaction, serialized on PostgreSQL by an advisory lock."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from conveyor_apps.exceptions.migrations import VERSION_TABLE
from conveyor_apps.exceptions.schema import metadata

MIGRATION_LOCK = 0x65786370  # "excp": one migrator at a time per database


def run_migrations() -> None:
    """Migrate the connection in `config.attributes`."""
    connection: sa.Connection | None = context.config.attributes.get("connection")
    if connection is None:
        raise SystemExit(
            "run these migrations with conveyor_apps.exceptions.migrations.upgrade "
            "(or `conveyor migrate upgrade`)"
        )
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
    context.configure(
        connection=connection, target_metadata=metadata, version_table=VERSION_TABLE
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
