"""The platform's Alembic migrations on SQLite and PostgreSQL: they build what
`schema.py` declares, beside the engine's tables, and go down cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from conveyor import migrations as engine_migrations
from conveyor_apps.exceptions import migrations
from conveyor_apps.exceptions.schema import metadata

TABLES = {
    "exceptions",
    "exception_events",
    "exception_stage_records",
    "exception_tool_executions",
    "exception_policies",
}


@pytest.fixture(name="database_url", params=["sqlite", "postgresql"])
def fixture_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/migrated.db"
    return str(request.getfixturevalue("postgres_database").url)


def tables(url: str) -> set[str]:
    """The table names in the database at `url`."""
    found: set[str] = set()

    def read(connection: sa.Connection) -> None:
        found.update(sa.inspect(connection).get_table_names())

    migrations._with_connection(url, read)
    return found


def columns(url: str) -> dict[str, list[str]]:
    """Each platform table's columns, in order."""
    found: dict[str, list[str]] = {}

    def read(connection: sa.Connection) -> None:
        inspector = sa.inspect(connection)
        for table in TABLES:
            found[table] = [c["name"] for c in inspector.get_columns(table)]

    migrations._with_connection(url, read)
    return found


def test_exceptions_migrations_beside_the_engine(database_url: str) -> None:
    """Upgrading after the engine's migrations adds the platform's tables and its
    own version table at the head revision, with the columns `schema.py`
    declares; downgrading to base removes exactly those."""
    engine_migrations.upgrade(database_url)
    engine_tables = tables(database_url)
    assert migrations.current(database_url) is None
    migrations.upgrade(database_url)
    assert migrations.current(database_url) == migrations.head() == migrations.HEAD
    added = tables(database_url) - engine_tables
    assert added == TABLES | {migrations.VERSION_TABLE}, f"got {sorted(added)}"
    declared = {t.name: [c.name for c in t.columns] for t in metadata.sorted_tables}
    assert columns(database_url) == declared, "migrated columns differ from schema.py"
    migrations.downgrade(database_url, "base")
    assert migrations.current(database_url) is None
    left = tables(database_url) - engine_tables
    assert left == {migrations.VERSION_TABLE}, (
        f"expected only the version table, got {left}"
    )
    assert engine_migrations.current(database_url) == engine_migrations.head()
