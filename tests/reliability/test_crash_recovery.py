"""Crash and resume with real processes, in both modes: a process running a
workflow is SIGKILLed between two steps or inside a step; embedded, a second
process on the same SQLite store finishes the run; distributed, a `conveyor
worker` restarted under the same id finishes it from PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crash_child import build_app

from conveyor import Conveyor, Settings
from conveyor.testing import assert_events, wait_until

HERE = Path(__file__).parent
CHILD = HERE / "crash_child.py"
STEPS = ("fetch", "price", "charge", "notify")
EXPECTED_OUTPUT = {"receipt": "charged 50", "notice": "sent charged 50"}

pytestmark = pytest.mark.reliability


class Children:
    """Child processes of one test; every one still alive is killed at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.processes: list[subprocess.Popen[str]] = []

    def spawn(self, *args: str | Path) -> subprocess.Popen[str]:
        """A crash child in embedded mode."""
        return self._start([sys.executable, str(CHILD), *map(str, args)], None)

    def worker(self, env: dict[str, str], mode: str) -> subprocess.Popen[str]:
        """A `conveyor worker` running the crash child's app in `mode`."""
        argv = [sys.executable, "-m", "conveyor.cli", "worker", "--no-examples"]
        argv += ["--app", "crash_child:worker_app", "--drain-timeout", "1"]
        return self._start(argv, {**os.environ, **env, "CRASH_MODE": mode})

    def _start(
        self, argv: list[str], env: dict[str, str] | None
    ) -> subprocess.Popen[str]:
        log = self.logs / f"child-{len(self.processes)}.log"
        with log.open("w") as stderr:
            process = subprocess.Popen(
                argv, cwd=HERE, env=env, stdout=subprocess.PIPE, stderr=stderr,
                text=True,
            )  # fmt: skip
        self.processes.append(process)
        return process

    def log(self, process: subprocess.Popen[str]) -> str:
        """What a child wrote on stderr."""
        index = self.processes.index(process)
        return (self.logs / f"child-{index}.log").read_text(errors="replace")

    def kill_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
            process.communicate()  # reaps it and closes its pipe


@pytest.fixture(name="children")
def fixture_children(tmp_path: Path) -> Iterator[Children]:
    """A spawner of child processes that leaves none behind."""
    children = Children(tmp_path)
    try:
        yield children
    finally:
        children.kill_all()


async def _finish(process: subprocess.Popen[str]) -> str:
    """Wait (off the event loop) for a child to end; its stdout."""
    out, _ = await asyncio.to_thread(process.communicate, timeout=60)
    return out


def _effects(path: Path) -> list[tuple[str, str]]:
    """The (step, idempotency key) lines the steps wrote, in order."""
    if not path.exists():
        return []
    return [
        (name, key)
        for name, key in (line.split() for line in path.read_text().splitlines())
    ]


async def _crash(
    case: str, first: subprocess.Popen[str], children: Children, effects: Path
) -> None:
    """Let the child crash in step 3 (between), or kill it there (inside)."""
    if case == "inside":
        await wait_until(
            lambda: [name for name, _ in _effects(effects)] == list(STEPS[:3]),
            timeout=30,
            interval_s=0.01,
            message="step 3 has written its effect and blocks",
        )
        os.kill(first.pid, signal.SIGKILL)
    await asyncio.to_thread(first.wait, 60)
    assert first.returncode == -signal.SIGKILL, (
        f"expected the child SIGKILLed in step 3, got exit {first.returncode}: "
        f"{children.log(first)}"
    )


@pytest.mark.parametrize("mode", ["embedded", "distributed"])
@pytest.mark.parametrize("case", ["between_steps", "inside_step"])
async def test_resume_after_sigkill(
    case: str,
    mode: str,
    children: Children,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """A process SIGKILLed between steps or inside a step leaves a run that the next
    process recovers: completed steps are not executed again, the interrupted step
    runs again with the same idempotency key, and the events stay gap-free."""
    effects, marker = tmp_path / "effects", tmp_path / "crashed"
    kind = "between" if case == "between_steps" else "inside"
    if mode == "embedded":
        db = tmp_path / "runs.db"
        first = children.spawn(kind, db, effects, "--marker", marker)
        assert first.stdout is not None
        run_id = json.loads(await asyncio.to_thread(first.stdout.readline))["run_id"]
        await _crash(kind, first, children, effects)
        second = children.spawn("recover", db, effects, "--run-id", run_id)
        out = await _finish(second)
        assert second.returncode == 0, f"recovery failed: {children.log(second)}"
        report = json.loads(out)
        expected = {"run_id": run_id, "status": "completed", "output": EXPECTED_OUTPUT}
        assert report == expected, f"expected {expected}, got {report}"
        store_url, bus_url = f"sqlite:///{db}", "memory://"
    else:
        store_url = request.getfixturevalue("conveyor_database").url
        nats_url = request.getfixturevalue("nats_server").url
        bus_url = f"{nats_url}?namespace=t{uuid.uuid4().hex[:10]}&pin_ttl=1"
        env = {
            "CONVEYOR_STORE_URL": store_url, "CONVEYOR_BUS_URL": bus_url,
            "CONVEYOR_WORKER_ID": "crash-worker", "CONVEYOR_HEARTBEAT_S": "0.5",
            "CRASH_EFFECTS": str(effects), "CRASH_MARKER": str(marker),
        }  # fmt: skip
        settings = Settings(store_url=store_url, bus_url=bus_url)
        first = children.worker(env, kind)
        async with build_app("recover", effects, None, settings, False) as api:
            handle = await api.start("order", 4)
            run_id = handle.run_id
            await _crash(kind, first, children, effects)
            second = children.worker(env, "recover")  # the same worker, restarted
            assert await handle.result(timeout_s=60) == EXPECTED_OUTPUT
    step3_key = f"{run_id}:3"
    if case == "between_steps":
        assert marker.read_text() == f"crashed in charge ({step3_key})", (
            f"expected the crash before step 3's effect, got {marker.read_text()!r}"
        )
    done = _effects(effects)
    runs_per_step = Counter(name for name, _ in done)
    expected_charges = 1 if case == "between_steps" else 2
    wanted = {"fetch": 1, "price": 1, "charge": expected_charges, "notify": 1}
    assert runs_per_step == wanted, (
        f"expected steps 1-2 once and step 3 {expected_charges}x, got {done}"
    )
    keys = {name: {key for step, key in done if step == name} for name in STEPS}
    assert keys == {name: {f"{run_id}:{n}"} for n, name in enumerate(STEPS, 1)}, (
        f"expected one idempotency key per step (step 3: {step3_key}), got {keys}"
    )
    async with Conveyor(store_url=store_url, bus_url=bus_url, run_workers=False) as app:
        await _check_events(app, run_id)


async def _check_events(app: Conveyor, run_id: str) -> None:
    """The stored events: gap-free, one recovery, and steps 1-2 started only once."""
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
