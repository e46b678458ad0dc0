"""`Coalescer`: many concurrent callers' requests applied by one task in batches —
whatever queued while the previous batch was in flight goes in the next one — so a
burst of callers costs a few round trips instead of one each."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

BatchFn = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class Coalescer(Generic[T, R]):
    """Applies queued items with `apply`, which returns one outcome per item (a
    result, or an exception for that item alone); if `apply` raises, every item
    of the batch gets the error."""

    def __init__(self, apply: BatchFn[T, R], name: str, max_batch: int = 500):
        self._apply = apply
        self._name = name
        self._max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the applying task (in the running loop)."""
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name=self._name)

    async def __call__(self, item: T) -> R:
        """Apply `item` with whatever else is queued; its outcome. Before `start`
        (or after `aclose`) it is applied on its own."""
        if self._task is None or self._queue is None:
            [outcome] = await self._apply([item])
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((item, future))
        return await future

    async def aclose(self) -> None:
        """Apply what is queued, then stop."""
        if self._task is None or self._queue is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = self._queue = None

    async def _run(self) -> None:
        assert self._queue is not None
        while True:
            pending = [await self._queue.get()]
            while not self._queue.empty() and len(pending) < self._max_batch:
                pending.append(self._queue.get_nowait())
            try:
                outcomes: Sequence[R | BaseException] = await self._apply(
                    [item for item, _ in pending]
                )
            except Exception as exc:
                outcomes = [exc] * len(pending)
            for (_, future), outcome in zip(pending, outcomes, strict=True):
                if not future.done():
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                self._queue.task_done()


def as_columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """Rows as `width` column lists, the parameters of an `unnest(...)` (empty
    lists for no rows)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]
