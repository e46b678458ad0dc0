"""Crash and resume with a real process: a child running a workflow is SIGKILLed
between two steps and inside a step; a second child finishes the run from the store."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conveyor import Conveyor
from conveyor.testing import assert_events, wait_until

CHILD = Path(__file__).with_name("crash_child.py")
STEPS = ("fetch", "price", "charge", "notify")
EXPECTED_OUTPUT = {"receipt": "charged 50", "notice": "sent charged 50"}

pytestmark = pytest.mark.reliability


class Children:
    """Child processes of one test; every one still alive is killed at teardown."""

    def __init__(self) -> None:
        self.processes: list[subprocess.Popen[str]] = []

    def spawn(self, *args: str | Path) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(CHILD), *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.processes.append(process)
        return process

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.communicate()  # reaps it and closes its pipes


@pytest.fixture(name="children")
def fixture_children() -> Iterator[Children]:
    """A spawner of child processes that leaves none behind."""
    children = Children()
    try:
        yield children
    finally:
        children.kill_all()


async def _finish(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Wait (off the event loop) for a child to end; its stdout and stderr."""
    return await asyncio.to_thread(process.communicate, timeout=60)


def _effects(path: Path) -> list[tuple[str, str]]:
    """The (step, idempotency key) lines the steps wrote, in order."""
    if not path.exists():
        return []
    return [
        (name, key)
        for name, key in (line.split() for line in path.read_text().splitlines())
    ]


@pytest.mark.parametrize("case", ["between_steps", "inside_step"])
async def test_resume_after_sigkill(case: str, children: Children, tmp_path: Path):
    """A process SIGKILLed between steps or inside a step leaves a run that the next
    process recovers: completed steps are not executed again, the interrupted step
    runs again with the same idempotency key, and the events stay gap-free."""
    db, effects, marker = tmp_path / "runs.db", tmp_path / "effects", tmp_path / "x"

    if case == "between_steps":
        first = children.spawn("between", db, effects, "--marker", marker)
        out, err = await _finish(first)
        assert first.returncode == -signal.SIGKILL, (
            f"expected the child to SIGKILL itself in step 3, got exit "
            f"{first.returncode}: {err}"
        )
    else:
        first = children.spawn("inside", db, effects)
        await wait_until(
            lambda: [name for name, _ in _effects(effects)] == list(STEPS[:3]),
            timeout=30,
            interval_s=0.01,
            message="step 3 has written its effect and blocks",
        )
        os.kill(first.pid, signal.SIGKILL)
        out, err = await _finish(first)
        assert first.returncode == -signal.SIGKILL, f"got exit {first.returncode}"
    run_id = json.loads(out.splitlines()[0])["run_id"]
    step3_key = f"{run_id}:3"
    if case == "between_steps":
        assert marker.read_text() == f"crashed in charge ({step3_key})", (
            f"expected the crash before step 3's effect, got {marker.read_text()!r}"
        )
        assert [name for name, _ in _effects(effects)] == list(STEPS[:2]), (
            f"expected only steps 1-2 before the crash, got {_effects(effects)}"
        )

    second = children.spawn("recover", db, effects, "--run-id", run_id)
    out, err = await _finish(second)
    assert second.returncode == 0, f"recovery child failed: {err}"
    report = json.loads(out)
    expected = {"run_id": run_id, "status": "completed", "output": EXPECTED_OUTPUT}
    assert report == expected, f"expected {expected}, got {report}"

    done = _effects(effects)
    runs_per_step = Counter(name for name, _ in done)
    expected_charges = 1 if case == "between_steps" else 2
    wanted = {"fetch": 1, "price": 1, "charge": expected_charges, "notify": 1}
    assert runs_per_step == wanted, (
        f"expected steps 1-2 once and step 3 {expected_charges}x, got {done}"
    )
    keys = {name: {key for step, key in done if step == name} for name in STEPS}
    assert keys["charge"] == {step3_key}, (
        f"expected every run of step 3 to use key {step3_key}, got {keys['charge']}"
    )
    assert keys == {name: {f"{run_id}:{n}"} for n, name in enumerate(STEPS, 1)}, (
        f"expected one idempotency key per step, got {keys}"
    )
    await _check_events(db, run_id)


async def _check_events(db: Path, run_id: str) -> None:
    """The stored events: gap-free, one recovery, and steps 1-2 started only once."""
    async with Conveyor(store_url=f"sqlite:///{db}", run_workers=False) as app:
        events = await assert_events(
            app, run_id,
            ["run.submitted", "run.started", "step.completed", "step.completed",
             "run.recovered", "step.completed", "step.completed", "run.completed"],
        )  # fmt: skip
    types = [event.type for event in events]
    assert types.count("run.recovered") == 1, f"expected one recovery, got {types}"
    started: dict[str, Any] = Counter(
        event.step for event in events if event.type == "step.started"
    )
    assert started["fetch"] == started["price"] == 1, (
        f"expected steps 1-2 to start once, got {dict(started)}"
    )
    completed = [event.step for event in events if event.type == "step.completed"]
    assert completed == list(STEPS), f"expected each step done once, got {completed}"
