"""`Coalescer`: requests made at the same moment are applied together, each gets
its own outcome, and a failed batch fails each of its requests."""

from __future__ import annotations

import asyncio

import pytest

from conveyor.store.batching import Coalescer, as_columns


async def test_concurrent_requests_share_a_batch() -> None:
    """Requests made together share a batch, and those queued while a batch is
    applied share the next one; each gets its own result."""
    batches: list[list[int]] = []
    applying = asyncio.Event()

    async def apply(items: list[int]) -> list[int | BaseException]:
        batches.append(items)
        applying.set()
        await asyncio.sleep(0.01)
        return [item * 10 for item in items]

    coalescer: Coalescer[int, int] = Coalescer(apply, "test")
    coalescer.start()
    try:
        first = asyncio.gather(*(coalescer(n) for n in range(2)))
        await applying.wait()
        later = await asyncio.gather(*(coalescer(n) for n in range(2, 5)))
        results = [*await first, *later]
    finally:
        await coalescer.aclose()
    assert results == [0, 10, 20, 30, 40], f"expected each its own result: {results}"
    assert batches == [[0, 1], [2, 3, 4]], f"expected two batches, got {batches}"


async def test_outcomes_are_per_request_and_errors_per_batch() -> None:
    """An exception returned for one item fails that request alone; an exception
    raised by the batch fails all of its requests; before `start` a request is
    applied on its own."""

    async def apply(items: list[int]) -> list[int | BaseException]:
        if 99 in items:
            raise RuntimeError("batch down")
        return [ValueError(n) if n < 0 else n for n in items]

    coalescer: Coalescer[int, int] = Coalescer(apply, "test")
    assert await coalescer(7) == 7, "not started: applied directly"
    coalescer.start()
    try:
        good, bad = await asyncio.gather(
            coalescer(1), coalescer(-1), return_exceptions=True
        )
        assert (good, type(bad)) == (1, ValueError), f"got {good!r}, {bad!r}"
        with pytest.raises(RuntimeError, match="batch down"):
            await coalescer(99)
    finally:
        await coalescer.aclose()


def test_as_columns() -> None:
    """Rows become column lists for `unnest`; no rows give empty columns."""
    assert as_columns([(1, "a"), (2, "b")], 2) == [[1, 2], ["a", "b"]]
    assert as_columns([], 3) == [[], [], []]
