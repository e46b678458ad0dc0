"""Schema migrations on SQLite and PostgreSQL: up and down through every revision,
and the schema they build equals the metadata and the embedded store's own DDL."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from conveyor import migrations
from conveyor.store.schema import SCHEMA_REVISION, metadata
from conveyor.store.sqlite import SqliteStore

TABLES = {"runs", "steps", "events", "signals", "dead_letters", "outbox"}


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
def fixture_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/migrated.db"
    database = request.getfixturevalue("postgres_database")
    return str(database.url)


def describe(url: str) -> dict[str, Any]:
    """Tables, columns, keys and indexes of the database at `url`."""
    target = migrations.sqlalchemy_url(url)

    def inspect(connection: sa.Connection) -> dict[str, Any]:
        inspector = sa.inspect(connection)
        found: dict[str, Any] = {}
        for table in inspector.get_table_names():
            if table == "alembic_version":
                continue
            found[table] = {
                "columns": [_column(c) for c in inspector.get_columns(table)],
                "pk": inspector.get_pk_constraint(table)["constrained_columns"],
                "unique": sorted(
                    tuple(u["column_names"])
                    for u in inspector.get_unique_constraints(table)
                ),
                "indexes": sorted(
                    (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                    for i in inspector.get_indexes(table)
                    if not str(i["name"]).endswith("_key")  # PG unique-backing
                ),
            }
        return found

    if target.startswith("sqlite"):
        engine = sa.create_engine(target)
        try:
            with engine.connect() as connection:
                return inspect(connection)
        finally:
            engine.dispose()

    async def run() -> dict[str, Any]:
        async_engine = create_async_engine(target)
        try:
            async with async_engine.connect() as connection:
                return await connection.run_sync(inspect)
        finally:
            await async_engine.dispose()

    return asyncio.run(run())


def _column(column: Any) -> tuple[Any, ...]:
    default = column.get("default")
    return (
        column["name"],
        str(column["type"]),
        column["nullable"],
        str(default).strip("'") if default else None,
    )


def create_from_metadata(url: str) -> None:
    """Build the schema straight from the SQLAlchemy metadata."""
    target = migrations.sqlalchemy_url(url)
    if target.startswith("sqlite"):
        engine = sa.create_engine(target)
        metadata.create_all(engine)
        engine.dispose()
        return

    async def run() -> None:
        async_engine = create_async_engine(target)
        async with async_engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
        await async_engine.dispose()

    asyncio.run(run())


def test_migrations_upgrade_downgrade(database_url: str) -> None:
    """Upgrading builds every table at the head revision, downgrading one revision
    removes only what it added, and downgrading to base leaves nothing."""
    assert migrations.current(database_url) is None
    migrations.upgrade(database_url)
    assert migrations.current(database_url) == migrations.head() == SCHEMA_REVISION
    assert set(describe(database_url)) == TABLES
    migrations.downgrade(database_url, "0001")
    assert migrations.current(database_url) == "0001"
    assert set(describe(database_url)) == TABLES - {"outbox"}
    migrations.upgrade(database_url)
    migrations.downgrade(database_url, "base")
    assert migrations.current(database_url) is None
    assert describe(database_url) == {}, "base must leave no table behind"


def test_migrations_match_metadata(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """The migrated schema equals the one built from `conveyor.store.schema`."""
    migrations.upgrade(database_url)
    migrated = describe(database_url)
    if database_url.startswith("sqlite"):
        other = f"sqlite:///{tmp_path}/from-metadata.db"
    else:
        other = str(request.getfixturevalue("postgres_database").url)
    create_from_metadata(other)
    assert describe(other) == migrated


async def test_embedded_store_schema_matches_migrations(tmp_path: Path) -> None:
    """A new SQLite store builds without Alembic exactly what the migrations build,
    and says it is at the head revision."""
    store = SqliteStore(tmp_path / "store.db")
    await store.open()
    await store.aclose()
    migrated = f"sqlite:///{tmp_path}/migrated.db"
    await asyncio.to_thread(migrations.upgrade, migrated)
    assert await asyncio.to_thread(describe, f"sqlite:///{tmp_path}/store.db") == (
        await asyncio.to_thread(describe, migrated)
    )
    assert migrations.current(f"sqlite:///{tmp_path}/store.db") == SCHEMA_REVISION


async def test_embedded_store_upgrades_an_older_database(tmp_path: Path) -> None:
    """A SQLite database at an older revision is migrated when the store opens."""
    url = f"sqlite:///{tmp_path}/old.db"
    await asyncio.to_thread(migrations.upgrade, url, "0001")
    store = SqliteStore(tmp_path / "old.db")
    await store.open()
    await store.aclose()
    assert migrations.current(url) == SCHEMA_REVISION


def test_migrate_command(tmp_path: Path) -> None:
    """`conveyor migrate` upgrades, reports and downgrades a store by URL."""
    url = f"sqlite:///{tmp_path}/cli.db"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "conveyor.cli", "migrate", *args, "--url", url],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    assert cli("upgrade").returncode == 0
    shown = cli("current")
    assert shown.returncode == 0 and shown.stdout.startswith(SCHEMA_REVISION)
    assert cli("downgrade", "base").returncode == 0
    assert cli("current").stdout.startswith("none")
    bad = cli("downgrade", "nope")
    assert bad.returncode == 2 and "nope" in bad.stderr, bad.stderr
