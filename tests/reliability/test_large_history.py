"""No cap on a run's history: a 100,000-step run is interrupted, compacted and
recovered without re-running what it recorded."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from conveyor import workflow
from conveyor.testing import stored_events, wait_until

CHUNK = 1_000
ROUNDS = 100
HANG_AT = 60_000  # the first step of round 60: rounds 0-59 are done when it hangs

pytestmark = pytest.mark.reliability


@pytest.mark.slow
async def test_100k_step_run_recovers(make_conveyor, tmp_path: Path):
    """A run of 100,000 steps closed mid-way resumes on reopen: the recorded
    checkpoints are replayed, not re-run, only the interrupted step runs again, and
    the run finishes with the right output even after its old events are compacted."""
    calls: list[int] = []
    hanging = asyncio.Event()
    hang = True

    async def work(n: int) -> int:
        calls.append(n)
        if n == HANG_AT and hang:
            hanging.set()
            await asyncio.Event().wait()  # until the app closes
        return n

    @workflow(name="pipeline")
    async def pipeline(run: Any, rounds: int) -> dict[str, int]:
        total = 0
        for r in range(rounds):
            chunk = range(r * CHUNK, (r + 1) * CHUNK)
            total += sum(await run.gather(*(run.step(work, n) for n in chunk)))
        return {"steps": rounds * CHUNK, "total": total}

    store_url = f"sqlite:///{tmp_path}/long.db"
    started = time.perf_counter()
    app = await make_conveyor(pipeline, store_url=store_url)
    handle = await app.start(pipeline, ROUNDS)
    await asyncio.wait_for(hanging.wait(), timeout=90)
    round_60 = set(range(HANG_AT, HANG_AT + CHUNK))
    await wait_until(
        lambda: round_60 <= set(calls[-CHUNK:]), message="all of round 60 called"
    )
    await app.aclose()
    first_life = len(calls)
    assert first_life == HANG_AT + CHUNK, f"expected 61,000 calls, got {first_life}"
    ran_for = time.perf_counter() - started

    # Old history goes: every event of the first life, checkpoints untouched.
    reader = await make_conveyor(store_url=store_url, run_workers=False)
    before = await reader.get_run(handle.run_id)
    compacted = await reader.store.compact_events(handle.run_id, before.last_seq)
    assert compacted == before.last_seq, (
        f"expected {before.last_seq} events compacted, got {compacted}"
    )
    await reader.aclose()

    hang = False
    del calls[:]
    reopened = time.perf_counter()
    app2 = await make_conveyor(pipeline, store_url=store_url)
    await wait_until(lambda: calls, timeout=60, message="replay reached new work")
    replay_s = time.perf_counter() - reopened
    result = await app2.result(handle.run_id, timeout_s=90)
    total_s = time.perf_counter() - started

    expected = {"steps": ROUNDS * CHUNK, "total": sum(range(ROUNDS * CHUNK))}
    assert result == expected, f"expected {expected}, got {result}"
    rerun = sorted(set(calls) & set(range(HANG_AT + CHUNK)))
    assert rerun == [HANG_AT], f"expected only step {HANG_AT} to run again: {rerun}"
    assert len(calls) == len(set(calls)) == ROUNDS * CHUNK - HANG_AT - CHUNK + 1, (
        f"expected each remaining step called once, got {len(calls)} calls"
    )
    steps = await app2.store.load_steps(handle.run_id)
    assert len(steps) == ROUNDS * CHUNK, f"expected 100,000 checkpoints: {len(steps)}"

    events = await stored_events(app2, handle.run_id)
    seqs = [event.seq for event in events]
    assert seqs == list(range(before.last_seq + 1, seqs[-1] + 1)), (
        "expected gap-free events right after the compacted prefix"
    )
    assert events[0].type == "run.recovered", f"got {events[0].type} first"
    assert events[-1].type == "run.completed", f"got {events[-1].type} last"
    print(
        f"\n100k steps: first life {ran_for:.1f} s, replay of "
        f"{HANG_AT + CHUNK - 1:,} checkpoints {replay_s:.2f} s, total {total_s:.1f} s"
    )


async def test_result_waits_through_wide_fan_out(make_conveyor):
    """`result()` returns the output of a run whose fan-out publishes more events
    at once than a live subscriber may buffer."""

    async def echo(n: int) -> int:
        return n

    @workflow
    async def wide(run: Any, count: int) -> int:
        return sum(await run.gather(*(run.step(echo, n) for n in range(count))))

    app = await make_conveyor(wide)
    count = 3_000  # 6,000 events in a burst; a subscriber buffers 1,000
    assert await app.run(wide, count) == sum(range(count))
