"""The store conformance suite, run against our own backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.store.sqlite import SqliteStore
from conveyor.testing import StoreConformance
from conveyor.testing.conformance import StoreFactory


class TestSqliteStore(StoreConformance):
    """`SqliteStore` keeps the `Store` contract."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        """New SqliteStore instances over one database file."""
        return lambda: SqliteStore(tmp_path / "conformance.db")
