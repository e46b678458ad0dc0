"""Records for store tests: runs, events, checkpoints and dead letters with made-up
times, and readers that collect what a store holds about a run. Used by the
conformance suite; handy for a user's own store tests too."""

from __future__ import annotations

import uuid
from typing import Any

from ..events import Event
from ..runs import RunRecord, RunStatus
from ..store.base import DeadLetter, StepRecord, Store

NOW = 1_800_000_000.0
TTL_S = 30.0
TENANT = "acme"
OTHER = "globex"


def new_run(
    tenant: str = TENANT,
    *,
    idempotency_key: str | None = None,
    workflow: str = "order",
    data: Any = None,
) -> tuple[RunRecord, Event]:
    """A pending, unowned run and its first event, ready for `create_run`."""
    run = RunRecord(
        id=uuid.uuid4().hex,
        workflow=workflow,
        tenant=tenant,
        status=RunStatus.PENDING,
        input=data,
        created_at=NOW,
        updated_at=NOW,
        idempotency_key=idempotency_key,
    )
    return run, event(run, 1, "run.submitted", {"input": data})


def event(
    run: RunRecord, seq: int, type_: str = "step.completed", data: Any = None
) -> Event:
    """Event number `seq` of `run`."""
    return Event(
        run_id=run.id,
        seq=seq,
        type=type_,
        timestamp=NOW + seq,
        tenant=run.tenant,
        workflow=run.workflow,
        step="work" if type_.startswith("step.") else None,
        attempt=1 if type_.startswith("step.") else None,
        data=data if data is not None else {"n": seq},
    )


def step(
    run: RunRecord, step_id: int, status: str = "completed", output: Any = None
) -> StepRecord:
    """Checkpoint `step_id` of `run`."""
    failed = status == "failed"
    return StepRecord(
        run_id=run.id,
        step_id=step_id,
        name="work",
        kind="step",
        status=status,
        input_digest=f"digest-{step_id}",
        output=None if failed else (output if output is not None else step_id),
        error={"type": "ValueError", "message": "bad"} if failed else None,
        attempts=1,
        started_at=NOW,
        finished_at=NOW + 1,
    )


def dead_letter(run: RunRecord, created_at: float = NOW) -> DeadLetter:
    """A dead letter for `run`."""
    return DeadLetter(
        id=uuid.uuid4().hex,
        run_id=run.id,
        tenant=run.tenant,
        workflow=run.workflow,
        error={"type": "ValueError", "message": "bad"},
        attempts=5,
        created_at=created_at,
    )


async def all_events(store: Store, run_id: str) -> list[Event]:
    """Every stored event of a run."""
    found: list[Event] = []
    while batch := await store.read_events(run_id, found[-1].seq if found else 0):
        found.extend(batch)
    return found


async def snapshot(store: Store, run_id: str) -> tuple[Any, ...]:
    """Everything stored about a run: record, checkpoints, events, signals."""
    return (
        await store.get_run(run_id),
        await store.load_steps(run_id),
        await all_events(store, run_id),
        await store.pending_signals(run_id, "go"),
    )


def seqs(events: list[Event]) -> list[int]:
    """The seq numbers of `events`."""
    return [item.seq for item in events]
