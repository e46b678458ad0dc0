"""Store URLs: `open_store` picks the backend, and a bad URL says what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor import ConfigurationError, ConveyorError
from conveyor.store import open_store
from conveyor.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("url", "path", "synchronous"),
    [
        ("sqlite:///conveyor.db", "conveyor.db", "FULL"),
        ("sqlite:///data/runs.db", "data/runs.db", "FULL"),
        ("sqlite:////var/lib/conveyor/runs.db", "/var/lib/conveyor/runs.db", "FULL"),
        ("sqlite:///runs.db?synchronous=normal", "runs.db", "NORMAL"),
    ],
)
def test_sqlite_urls(url: str, path: str, synchronous: str):
    """sqlite:///relative and sqlite:////absolute paths, with a synchronous level."""
    store = open_store(url)
    assert isinstance(store, SqliteStore), f"expected a SqliteStore, got {store!r}"
    got = (store.path, store.synchronous)
    assert got == (Path(path), synchronous), f"expected {path} {synchronous}: {got}"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite://host/runs.db", "use sqlite:///relative.db or sqlite:////abs.db"),
        ("sqlite://", "names no file"),
        ("sqlite:///", "names no file"),
        ("ftp://example.com/runs", "unsupported store URL scheme 'ftp'"),
        ("runs.db", "unsupported store URL scheme ''"),
    ],
)
def test_bad_urls_name_the_problem(url: str, problem: str):
    """A URL that names no usable store raises ConfigurationError saying why."""
    with pytest.raises(ConfigurationError) as caught:
        open_store(url)
    assert problem in str(caught.value), f"expected {problem!r} in {caught.value}"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("sqlite:///runs.db?synchronous=SOMETIMES", "synchronous must be one of"),
        ("sqlite:///:memory:", "needs a file path"),
    ],
)
def test_bad_sqlite_options_name_the_problem(url: str, problem: str):
    """Options SQLite cannot honour are refused with the reason."""
    with pytest.raises(ConveyorError) as caught:
        open_store(url)
    assert problem in str(caught.value), f"expected {problem!r} in {caught.value}"


@pytest.mark.parametrize(
    ("query", "plans"),
    [
        ("", "force_custom_plan"),
        ("?plan_cache_mode=auto", "auto"),
        ("?plan_cache_mode=", None),
    ],
)
def test_postgres_plan_cache_mode(query: str, plans: str | None):
    """Kept statements are planned for their parameters unless the URL says
    otherwise; an empty value sends no setting (for a pooler that refuses it)."""
    from conveyor.store.postgres import PostgresStore

    store = open_store(f"postgresql://u@localhost/db{query}")
    assert isinstance(store, PostgresStore), f"expected a PostgresStore: {store!r}"
    assert store.plan_cache_mode == plans, f"{store.plan_cache_mode!r} != {plans!r}"


def test_postgres_bad_plan_cache_mode_names_the_option():
    """A plan_cache_mode PostgreSQL does not know is refused up front."""
    with pytest.raises(ConveyorError) as caught:
        open_store("postgresql://u@localhost/db?plan_cache_mode=fast")
    assert "plan_cache_mode 'fast'" in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    ("query", "prepared", "migrate"),
    [
        ("", True, True),
        ("?prepared_statements=true&migrate=false", True, False),
        ("?prepared_statements=off&migrate=1", False, True),
    ],
)
def test_postgres_url_options(query: str, prepared: bool, migrate: bool):
    """PostgreSQL URL options choose prepared statements (on by default; off
    for transaction-mode poolers that do not track them) and migration on open,
    and never reach the driver."""
    from conveyor.migrations import sqlalchemy_url
    from conveyor.store.postgres import PostgresStore

    url = f"postgresql://u@localhost/db{query}"
    store = open_store(url)
    assert isinstance(store, PostgresStore), f"expected a PostgresStore: {store!r}"
    got = (store.prepared_statements, store.migrate)
    assert got == (prepared, migrate), f"expected {prepared} {migrate}: {got}"
    assert "?" not in sqlalchemy_url(url), f"options left in {sqlalchemy_url(url)}"
