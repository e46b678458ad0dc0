"""The child process of the crash tests: runs a four-step order workflow, or
recovers it, so the parent can SIGKILL a real process mid-run.

Embedded mode: `python crash_child.py MODE DB EFFECTS [--marker PATH] [--run-id ID]`
runs on a SQLite store.

- `between`: start a run; the third step's agent SIGKILLs this process (a `Crash`
  fault) before doing anything, so the process dies between steps 2 and 3.
- `inside`: start a run; the third step writes its effect, then blocks for good
  (until the parent kills the process from outside).
- `recover`: open the same store (recovery of unfinished runs happens on open) and
  wait for the run `--run-id`; print `{"run_id", "status", "output"}` as JSON.

The first two modes print `{"run_id": ...}` as soon as the run is submitted.

Distributed mode: `conveyor worker --app crash_child:worker_app` with the mode and
paths in `CRASH_MODE`, `CRASH_EFFECTS` and `CRASH_MARKER`; the parent submits the
run, and a worker restarted under the same id (`recover`) finishes it.

Every step appends `<step name> <idempotency key>` to EFFECTS (fsync'd) as its side
effect.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conveyor import Conveyor, Settings, StepContext, workflow
from conveyor.clock import Clock
from conveyor.testing import Crash, FakeAgent, Fault

STEPS = ("fetch", "price", "charge", "notify")
INTERRUPTED = "charge"


@dataclass(frozen=True, slots=True)
class AppendEffect(Fault):
    """The step's side effect: one durable line naming the step and its key."""

    path: Path

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        line = f"{ctx.name} {ctx.idempotency_key}\n".encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class BlockOn(Fault):
    """Wait for a file that never appears (the parent kills the process first)."""

    path: Path

    async def apply(self, call: int, ctx: StepContext, clock: Clock) -> None:
        # The file would come from another process: no asyncio.Event can cross.
        while not self.path.exists():  # noqa: ASYNC110
            await asyncio.sleep(0.05)


def build_agents(mode: str, effects: Path, marker: Path | None) -> list[FakeAgent]:
    """The four steps; only the interrupted one behaves differently per mode."""
    results: dict[str, Any] = {
        "fetch": lambda n: n + 1,
        "price": lambda n: n * 10,
        "charge": lambda n: f"charged {n}",
        "notify": lambda receipt: f"sent {receipt}",
    }
    agents = []
    for name in STEPS:
        faults: list[Fault] = [AppendEffect(effects)]
        if name == INTERRUPTED and mode == "between":
            assert marker is not None, "between mode needs --marker"
            faults.insert(0, Crash(marker))
        elif name == INTERRUPTED and mode == "inside":
            faults.append(BlockOn(effects.with_name("never-appears")))
        agents.append(FakeAgent(name, results[name], faults=faults))
    return agents


def build_app(
    mode: str,
    effects: Path,
    marker: Path | None,
    settings: Settings | None = None,
    run_workers: bool = True,
) -> Conveyor:
    """An app with the order workflow, its steps behaving as `mode` says."""
    fetch, price, charge, notify = build_agents(mode, effects, marker)

    @workflow(name="order")
    async def order(run: Any, n: int) -> dict[str, Any]:
        fetched = await run.step(fetch.agent, n)
        priced = await run.step(price.agent, fetched)
        receipt = await run.step(charge.agent, priced)
        sent = await run.step(notify.agent, receipt)
        return {"receipt": receipt, "notice": sent}

    return Conveyor(settings=settings, workflows=[order], run_workers=run_workers)


def worker_app() -> Conveyor:
    """The app of a `conveyor worker` child (settings from CONVEYOR_* variables)."""
    marker = os.environ.get("CRASH_MARKER")
    return build_app(
        os.environ["CRASH_MODE"],
        Path(os.environ["CRASH_EFFECTS"]),
        Path(marker) if marker else None,
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["between", "inside", "recover"])
    parser.add_argument("db", type=Path)
    parser.add_argument("effects", type=Path)
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--run-id")
    args = parser.parse_args()

    settings = Settings(store_url=f"sqlite:///{args.db.resolve()}")
    async with build_app(args.mode, args.effects, args.marker, settings) as app:
        if args.mode == "recover":
            output = await app.result(args.run_id, timeout_s=60)
            run = await app.get_run(args.run_id)
            report = {"run_id": run.id, "status": run.status.value, "output": output}
            print(json.dumps(report), flush=True)
            return
        handle = await app.start("order", 4)
        print(json.dumps({"run_id": handle.run_id}), flush=True)
        await handle.result()  # never returns: this process is killed first


if __name__ == "__main__":
    asyncio.run(main())
