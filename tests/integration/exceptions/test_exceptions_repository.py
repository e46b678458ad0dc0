"""What the stages record, on SQLite (transactions) and PostgreSQL (one statement
per record, `statements.py`): both keep every record once, move events only
along the status state machine, and put a replayed dead letter back."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conveyor_apps.exceptions import (
    Category,
    NormalizedException,
    PlaybookStep,
    Severity,
    ToolName,
    ToolRequest,
    ToolResult,
    Triage,
    normalize,
    parse_report,
)
from conveyor_apps.exceptions.errors import StatusTransitionError
from conveyor_apps.exceptions.handoffs import EventContext, EventType, Stage, ToolCall
from conveyor_apps.exceptions.repository import ExceptionRepository, Outcome
from conveyor_apps.exceptions.status import ExceptionStatus

S = ExceptionStatus
TENANT = "acme"
EXCEPTION = "ex_repository_test"


@pytest.fixture(name="repository", params=["sqlite", "postgresql"])
async def fixture_repository(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[ExceptionRepository]:
    """The platform's tables, migrated, on an empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/records.db"
    else:
        url = str(request.getfixturevalue("postgres_database").url)
    repository = ExceptionRepository(url, worker="w-1", pool_size=2)
    await repository.open()
    try:
        yield repository
    finally:
        await repository.aclose()


def event(n: int = 1) -> EventContext:
    """The context of the exception's event `n` (the report, then updates)."""
    kind = EventType.REPORTED if n == 1 else EventType.UPDATED
    return EventContext(
        exception_id=EXCEPTION, event_id=f"{EXCEPTION}:{n}", tenant=TENANT,
        type=kind, ingested_at=100.0 * n,
    )  # fmt: skip


def exception() -> NormalizedException:
    """The exception the events are about, normalized."""
    report = parse_report(
        {
            "source": "billing",
            "kind": "nightly_batch_failed",
            "message": "Batch 7 failed",
            "occurred_at": "2025-03-01T10:00:00+00:00",
            "attributes": {"job_id": "job-7"},
        }
    )
    return normalize(report, TENANT)


def snapshot() -> dict[str, Any]:
    """The normalized exception as Intake stores it."""
    return exception().model_dump(mode="json")


async def intake(repository: ExceptionRepository, n: int = 1) -> int:
    """Store event `n` as Intake does; its number."""
    return await repository.record_intake(event(n), snapshot(), f"run-{n}", 1.0, 2.0)


async def stage(
    repository: ExceptionRepository,
    which: Stage,
    status: ExceptionStatus,
    n: int = 1,
    seq: int = 1,
    outcome: Outcome | None = None,
) -> None:
    """Record `which` for event `n`, moving it to `status`."""
    await repository.record_stage(
        event(n), seq, which, status, run_id=f"{which}-{n}", attempts=1,
        result={"stage": which.value}, started_at=3.0, now=4.0, outcome=outcome,
    )  # fmt: skip


def tool_call(position: int, tool: ToolName) -> tuple[ToolCall, ToolResult]:
    """Event 1's tool call at `position` and its successful result."""
    step = PlaybookStep(tool=tool, params={"job_id": "job-7"})
    triage = Triage(category=Category.PAYMENTS, severity=Severity.HIGH)
    request = ToolRequest.for_step(EXCEPTION, exception(), triage, step)
    call = ToolCall(context=event(1), seq=1, position=position, step=step,
                    request=request)  # fmt: skip
    result = ToolResult(
        tool=tool, tenant=TENANT, exception_id=EXCEPTION,
        idempotency_key=f"run-t:{position}", external_id=f"ext-{position}",
        status_code=201,
    )  # fmt: skip
    return call, result


async def found(repository: ExceptionRepository) -> dict[str, Any]:
    """The exception with its events, stage records and tool executions."""
    stored = await repository.get_exception(TENANT, EXCEPTION)
    assert stored is not None, "the exception is stored"
    return stored


async def test_every_record_is_kept_once(repository: ExceptionRepository) -> None:
    """Each record written twice (a step run again) is kept once, and the event
    moves received → triaged → … → resolved, the exception mirroring it."""
    assert (await intake(repository), await intake(repository)) == (1, 1)
    triaged = Outcome(category="payments", severity="high")
    for which, status, outcome in (
        (Stage.TRIAGE, S.TRIAGED, triaged),
        (Stage.POLICY, S.POLICY_APPLIED, None),
        (Stage.PLAYBOOK, S.PLAYBOOK_SELECTED, None),
    ):
        await stage(repository, which, status, outcome=outcome)
        await stage(repository, which, status, outcome=outcome)
    for position, tool in enumerate((ToolName.RETRY_JOB, ToolName.NOTIFY)):
        call, result = tool_call(position, tool)
        await repository.record_tool(call, result, 1, 5.0)
        await repository.record_tool(call, result, 1, 5.0)
    for _ in range(2):
        await stage(repository, Stage.TOOL, S.RESOLVED, outcome=Outcome(finished=True))
    stored = await found(repository)
    assert (stored["status"], stored["category"], stored["last_seq"]) == (
        "resolved", "payments", 1,
    ), stored  # fmt: skip
    [only] = stored["events"]
    assert (only["status"], only["finished_at"]) == ("resolved", 4.0), only
    stages = [r["stage"] for r in stored["stages"]]
    assert stages == [s.value for s in Stage], f"each stage once, got {stages}"
    tools = [(t["tool"], t["position"]) for t in stored["tools"]]
    assert tools == [("retry_job", 0), ("notify", 1)], f"each tool once: {tools}"


async def test_an_illegal_move_writes_nothing(
    repository: ExceptionRepository,
) -> None:
    """A stage recorded out of order raises and leaves neither a record nor a
    move behind."""
    await intake(repository)
    with pytest.raises(StatusTransitionError):
        await stage(repository, Stage.TOOL, S.RESOLVED, outcome=Outcome(finished=True))
    stored = await found(repository)
    assert stored["events"][0]["status"] == "received", stored["events"][0]
    assert [r["stage"] for r in stored["stages"]] == ["intake"], stored["stages"]


async def test_a_replayed_dead_letter_moves_back_and_on(
    repository: ExceptionRepository,
) -> None:
    """An event dead-lettered at Policy, when Policy records it on replay, is
    back on its way: policy_applied, its error gone, the exception too."""
    await intake(repository)
    await stage(repository, Stage.TRIAGE, S.TRIAGED)
    await repository.dead_lettered(event(1), Stage.POLICY, {"type": "Boom"}, 5.0)
    parked = (await found(repository))["events"][0]
    assert (parked["status"], parked["failed_stage"]) == ("dead_lettered", "policy")
    await stage(repository, Stage.POLICY, S.POLICY_APPLIED)
    stored = await found(repository)
    moved = stored["events"][0]
    assert (moved["status"], moved["error"]) == ("policy_applied", None), moved
    assert stored["status"] == "policy_applied", stored["status"]


async def test_only_the_latest_event_shows_on_the_exception(
    repository: ExceptionRepository,
) -> None:
    """A second event gets the next number; a stage of the older event moves
    that event but no longer the exception's status."""
    await intake(repository)
    assert await intake(repository, 2) == 2, "the update is event 2"
    await stage(repository, Stage.TRIAGE, S.TRIAGED, n=1, seq=1)
    stored = await found(repository)
    assert (stored["status"], stored["last_seq"]) == ("received", 2), stored
    assert [e["status"] for e in stored["events"]] == ["triaged", "received"]
    await stage(repository, Stage.TRIAGE, S.TRIAGED, n=2, seq=2)
    assert (await found(repository))["status"] == "triaged"
