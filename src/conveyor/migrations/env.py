"""Alembic's entry point: migrate the connection the runner hands over, inside its
transaction, serialized on PostgreSQL by a transaction-scoped advisory lock."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from conveyor.store.schema import metadata

MIGRATION_LOCK = 0x636F6E76  # "conv": one migrator at a time per database


def run_migrations() -> None:
    """Migrate the connection in `config.attributes` (see `runner`)."""
    connection: sa.Connection | None = context.config.attributes.get("connection")
    if connection is None:
        from conveyor.migrations.runner import upgrade
        from conveyor.settings import Settings

        raise SystemExit(
            "run migrations with `conveyor migrate` (it calls "
            f"{upgrade.__module__}.upgrade on {Settings().store_url})"
        )
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK})"))
    context.configure(connection=connection, target_metadata=metadata)
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
