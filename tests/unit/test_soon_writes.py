"""`SoonWrites`: the runs' writes due at the end of a turn of the event loop are
stored by one callback, each once, and a new loop starts afresh."""

from __future__ import annotations

import asyncio
from typing import Any

from conveyor.execution import SoonWrites


class FakeExecution:
    """Counts the times its queued events were stored."""

    def __init__(self) -> None:
        self.flushed = 0

    def _flush_soon(self) -> None:
        self.flushed += 1


def test_one_callback_stores_every_due_run():
    """Runs made due in one turn are stored in the next turn, each once, by a
    single callback."""

    async def scenario() -> tuple[list[int], int]:
        loop = asyncio.get_running_loop()
        scheduled = 0
        call_soon = loop.call_soon

        def counting(*args: Any, **kwargs: Any) -> Any:
            nonlocal scheduled
            scheduled += 1
            return call_soon(*args, **kwargs)

        soon = SoonWrites()
        runs = [FakeExecution() for _ in range(5)]
        loop.call_soon = counting  # type: ignore[method-assign]
        try:
            for run in runs:
                soon.add(run)  # type: ignore[arg-type]
        finally:
            loop.call_soon = call_soon  # type: ignore[method-assign]
        await asyncio.sleep(0)
        return [run.flushed for run in runs], scheduled

    flushed, scheduled = asyncio.run(scenario())
    assert flushed == [1] * 5, f"expected each run stored once, got {flushed}"
    assert scheduled == 1, f"expected one callback, got {scheduled}"


def test_a_new_loop_starts_afresh():
    """Runs left due by a loop that stopped first do not keep a new loop's runs
    from being stored."""
    soon = SoonWrites()
    stale, fresh = FakeExecution(), FakeExecution()

    async def store_due() -> None:
        soon.add(fresh)  # type: ignore[arg-type]
        await asyncio.sleep(0)

    def leave_due() -> None:
        soon.add(stale)  # type: ignore[arg-type]
        loop.stop()  # before the next turn, which would store it

    loop = asyncio.new_event_loop()
    loop.call_soon(leave_due)
    loop.run_forever()
    loop.close()
    asyncio.run(store_due())
    assert fresh.flushed == 1, f"expected the new loop's run stored: {fresh.flushed}"
    assert stale.flushed == 0, f"expected the stopped loop's run left: {stale.flushed}"
