"""The store conformance suite, run against our own backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from conveyor.errors import LeaseLostError
from conveyor.store.base import WriteBatch
from conveyor.store.sqlite import SqliteStore
from conveyor.testing import StoreConformance
from conveyor.testing.conformance import StoreFactory
from conveyor.testing.store_records import (
    NOW,
    TTL_S,
    all_events,
    event,
    new_run,
    seqs,
    step,
)


class TestSqliteStore(StoreConformance):
    """`SqliteStore` keeps the `Store` contract."""

    @pytest.fixture
    def store_factory(self, tmp_path: Path) -> StoreFactory:
        """New SqliteStore instances over one database file."""
        return lambda: SqliteStore(tmp_path / "conformance.db")


async def test_sqlite_writer_gears_keep_order_and_isolation(tmp_path: Path) -> None:
    """A burst of writes goes to the commit thread, a lone write commits on the
    loop; either way writes land in the order they were made, a refused write fails
    alone, and closing the store waits for what the thread still holds."""
    path = tmp_path / "gears.db"
    store = SqliteStore(path)
    await store.open()
    run, first = new_run()
    await store.create_run(run, first)
    owned = await store.acquire_lease(run.id, "owner-a", NOW, TTL_S)
    assert owned is not None

    def batch(seq: int, epoch: int = owned.lease_epoch) -> WriteBatch:
        return WriteBatch(
            run.id, epoch, events=[event(run, seq)], steps=[step(run, seq)]
        )

    burst = [store.submit_write(batch(seq)) for seq in range(2, 42)]
    stale = store.submit_write(batch(99, epoch=owned.lease_epoch - 1))
    burst += [store.submit_write(batch(seq)) for seq in range(42, 62)]
    outcomes = await asyncio.gather(*burst, stale, return_exceptions=True)
    assert all(outcome is None for outcome in outcomes[:-1]), outcomes
    assert isinstance(outcomes[-1], LeaseLostError)

    await store.write(batch(62))  # alone: back to committing inline
    pending = [store.submit_write(batch(seq)) for seq in range(63, 93)]
    await store.aclose()
    assert all(future.done() and future.exception() is None for future in pending)

    reopened = SqliteStore(path)
    await reopened.open()
    try:
        assert seqs(await all_events(reopened, run.id)) == list(range(1, 93))
        assert sorted(await reopened.load_steps(run.id)) == list(range(2, 93))
    finally:
        await reopened.aclose()
