"""The app of the worker-queue tests: one workflow on queue `alpha`, one on
`beta`; each run answers with the id of the worker that ran it."""

from __future__ import annotations

import os
from typing import Any

from conveyor import Conveyor, workflow


async def whoami(data: int) -> dict[str, Any]:
    return {"n": data, "worker": os.environ.get("CONVEYOR_WORKER_ID", "")}


@workflow(queue="alpha")
async def on_alpha(run: Any, data: int) -> dict[str, Any]:
    return dict(await run.step(whoami, data))


@workflow(queue="beta")
async def on_beta(run: Any, data: int) -> dict[str, Any]:
    return dict(await run.step(whoami, data))


def make_app() -> Conveyor:
    """The workers' app (settings from CONVEYOR_* variables)."""
    return Conveyor(workflows=[on_alpha, on_beta])
