"""`ExceptionRepository`: what the stages recorded, in the platform's tables, on
PostgreSQL (asyncpg, beside the engine's tables) or SQLite (embedded mode).

Every write is idempotent — keyed by the event id, the stage or the tool
call's idempotency key — because a step may run again after a crash, and the
status moves are checked by the status state machine (a repeated move is a no-op).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from conveyor.serde import dumps, loads

from . import statements
from .database import Database, insert
from .handoffs import EventContext, Stage, ToolCall
from .schema import events, exceptions, policies, stage_records, tool_executions
from .status import ExceptionStatus, can_transition, check_transition
from .tenants import TenantPolicy
from .tools import ToolResult


@dataclass(frozen=True, slots=True)
class ExceptionFilter:
    """Filters and pagination of `GET /exceptions` (newest first)."""

    tenant: str
    status: str | None = None
    category: str | None = None
    severity: str | None = None
    source: str | None = None
    limit: int = 50
    before: int | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """Fields a stage sets on its event besides the status."""

    category: str | None = None
    severity: str | None = None
    action: str | None = None
    playbook: str | None = None
    finished: bool = False


class ExceptionRepository(Database):
    """The platform's tables on one database.

    Args:
        url: a `postgresql://` or `sqlite:///` URL.
        worker: the worker id stage records name.
        options: connection options (see `Database`).
    """

    def __init__(self, url: str, *, worker: str = "", **options: Any) -> None:
        super().__init__(url, **options)
        self.worker = worker

    # writes by the stages ------------------------------------------------------
    async def latest_snapshot(self, exception_id: str) -> dict[str, Any] | None:
        """The normalized exception as its latest event left it."""

        def work(conn: sa.Connection) -> dict[str, Any] | None:
            row = conn.execute(
                sa.select(events.c.snapshot)
                .where(events.c.exception_id == exception_id)
                .order_by(events.c.seq.desc())
                .limit(1)
            ).first()
            return None if row is None else dict(loads(row[0]))

        return await self.transact(work)

    async def record_intake(
        self,
        ctx: EventContext,
        snapshot: dict[str, Any],
        run_id: str,
        started_at: float,
        now: float,
    ) -> int:
        """Store the exception (first report) and its event; return the event's
        number. A repeated call returns the number given the first time."""
        if self.single_statements:
            row = await self.statement(
                statements.INTAKE, ctx.event_id, ctx.exception_id, ctx.tenant,
                ExceptionStatus.RECEIVED.value, snapshot["source"], snapshot["kind"],
                snapshot["message"], snapshot.get("external_ref"),
                snapshot["fingerprint"], ctx.ingested_at, now, ctx.type.value,
                dumps(snapshot), run_id, self.worker, started_at,
            )  # fmt: skip
            return int(row[0])

        def work(conn: sa.Connection) -> int:
            found = conn.execute(
                sa.select(events.c.seq).where(events.c.event_id == ctx.event_id)
            ).first()
            if found is not None:
                return int(found[0])
            row = conn.execute(
                sa.select(exceptions.c.last_seq)
                .where(exceptions.c.id == ctx.exception_id)
                .with_for_update()
            ).first()
            seq = 1 if row is None else int(row[0]) + 1
            status = ExceptionStatus.RECEIVED.value
            fields = {
                "status": status,
                "source": snapshot["source"],
                "kind": snapshot["kind"],
                "message": snapshot["message"],
                "external_ref": snapshot.get("external_ref"),
                "fingerprint": snapshot["fingerprint"],
                "last_seq": seq,
                "updated_at": now,
            }
            if row is None:
                conn.execute(
                    exceptions.insert().values(
                        id=ctx.exception_id,
                        tenant=ctx.tenant,
                        created_at=ctx.ingested_at,
                        **fields,
                    )
                )
            else:
                conn.execute(
                    exceptions.update()
                    .where(exceptions.c.id == ctx.exception_id)
                    .values(**fields)
                )
            conn.execute(
                events.insert().values(
                    event_id=ctx.event_id,
                    exception_id=ctx.exception_id,
                    tenant=ctx.tenant,
                    seq=seq,
                    type=ctx.type.value,
                    status=status,
                    snapshot=dumps(snapshot),
                    ingested_at=ctx.ingested_at,
                    updated_at=now,
                )
            )
            _insert_record(
                conn,
                self.worker,
                ctx,
                seq,
                Stage.INTAKE,
                run_id,
                1,
                {"seq": seq},
                started_at,
                now,
            )
            return seq

        return await self.transact(work)

    async def record_stage(
        self,
        ctx: EventContext,
        seq: int,
        stage: Stage,
        status: ExceptionStatus,
        *,
        run_id: str,
        attempts: int,
        result: dict[str, Any],
        started_at: float,
        now: float,
        outcome: Outcome | None = None,
    ) -> None:
        """Record what `stage` did for the event and move the event (and the
        exception, if this is its latest event) to `status`."""
        outcome = outcome or Outcome()
        if self.single_statements and await self._moved(
            statements.STAGE, status.value, now, outcome.category, outcome.severity,
            outcome.action, outcome.playbook, outcome.finished, ctx.event_id,
            _SOURCES[status], ctx.exception_id, ctx.tenant, seq, stage.value,
            run_id, self.worker, attempts, dumps(result), started_at,
        ):  # fmt: skip
            return

        def work(conn: sa.Connection) -> None:
            _insert_record(
                conn,
                self.worker,
                ctx,
                seq,
                stage,
                run_id,
                attempts,
                result,
                started_at,
                now,
            )
            _move(conn, ctx, seq, status, now, outcome)

        await self.transact(work)

    async def record_tool(
        self, call: ToolCall, result: ToolResult, attempts: int, now: float
    ) -> None:
        """Record one tool execution under its idempotency key (once); the first
        one moves the event to `remediating`."""
        if self.single_statements and await self._record_tool_at_once(
            call, result, attempts, now
        ):
            return

        def work(conn: sa.Connection) -> None:
            if call.position == 0:
                _move(
                    conn, call.context, call.seq, ExceptionStatus.REMEDIATING, now,
                    Outcome(),
                )  # fmt: skip
            conn.execute(
                insert(conn, tool_executions)
                .values(
                    idempotency_key=result.idempotency_key,
                    event_id=call.context.event_id,
                    exception_id=call.context.exception_id,
                    tenant=call.context.tenant,
                    seq=call.seq,
                    position=call.position,
                    tool=result.tool.value,
                    external_id=result.external_id,
                    status_code=result.status_code,
                    replayed=result.replayed,
                    attempts=attempts,
                    recorded_at=now,
                )
                .on_conflict_do_nothing(index_elements=["idempotency_key"])
            )

        await self.transact(work)

    async def _record_tool_at_once(
        self, call: ToolCall, result: ToolResult, attempts: int, now: float
    ) -> bool:
        """`record_tool` in one statement; False if the event did not move."""
        ctx = call.context
        row = (
            ctx.exception_id, ctx.tenant, call.seq, call.position, result.tool.value,
            result.external_id, result.status_code, result.replayed, attempts,
        )  # fmt: skip
        if call.position:
            await self.statement(
                statements.TOOL, result.idempotency_key, ctx.event_id, *row, now
            )
            return True
        target = ExceptionStatus.REMEDIATING
        return await self._moved(
            statements.FIRST_TOOL, target.value, now, ctx.event_id, _SOURCES[target],
            result.idempotency_key, *row,
        )  # fmt: skip

    async def _moved(self, query: str, *args: Any) -> bool:
        """Run a statement that moves an event; whether it moved it."""
        found = await self.statement(query, *args)
        return bool(found[0])

    async def dead_lettered(
        self, ctx: EventContext, stage: Stage, error: dict[str, Any], now: float
    ) -> None:
        """The event's stage failed for good: park the event as dead-lettered,
        remembering where it was so a replay can put it back."""

        def work(conn: sa.Connection) -> None:
            row = conn.execute(
                sa.select(events.c.status, events.c.seq).where(
                    events.c.event_id == ctx.event_id
                )
            ).first()
            if row is None:  # Intake failed before storing the event
                return
            current = ExceptionStatus(row[0])
            if current is ExceptionStatus.DEAD_LETTERED:
                return
            check_transition(ctx.exception_id, current, ExceptionStatus.DEAD_LETTERED)
            conn.execute(
                events.update()
                .where(events.c.event_id == ctx.event_id)
                .values(
                    status=ExceptionStatus.DEAD_LETTERED.value,
                    failed_stage=stage.value,
                    failed_from=current.value,
                    error=dumps(error),
                    updated_at=now,
                )
            )
            _mirror(conn, ctx, int(row[1]), ExceptionStatus.DEAD_LETTERED, now)

        await self.transact(work)

    # reads ---------------------------------------------------------------------
    async def get_exception(
        self, tenant: str, exception_id: str, *, brief: bool = False
    ) -> dict[str, Any] | None:
        """The exception with its events, stage records and tool executions (or
        only its row, if `brief`), or None if it is unknown or another tenant's."""

        def work(conn: sa.Connection) -> dict[str, Any] | None:
            if conn.dialect.name == "postgresql" and not brief:
                # one snapshot for the four reads: the exception's status must be
                # its events' as they were, not as a stage moved them meanwhile
                conn.execute(sa.text(_ONE_SNAPSHOT))
            row = conn.execute(
                sa.select(exceptions).where(
                    exceptions.c.id == exception_id, exceptions.c.tenant == tenant
                )
            ).first()
            if row is None:
                return None
            found = dict(row._mapping)
            if brief:
                return found
            found["events"] = [
                _event_row(r)
                for r in conn.execute(
                    sa.select(events)
                    .where(events.c.exception_id == exception_id)
                    .order_by(events.c.seq)
                )
            ]
            found["stages"] = [
                {**r._mapping, "result": loads(r.result)}
                for r in conn.execute(
                    sa.select(stage_records)
                    .where(stage_records.c.exception_id == exception_id)
                    .order_by(stage_records.c.id)
                )
            ]
            found["tools"] = [
                dict(r._mapping)
                for r in conn.execute(
                    sa.select(tool_executions)
                    .where(tool_executions.c.exception_id == exception_id)
                    .order_by(
                        tool_executions.c.seq,
                        tool_executions.c.position,
                        tool_executions.c.recorded_at,
                    )
                )
            ]
            return found

        return await self.transact(work)

    async def list_exceptions(self, query: ExceptionFilter) -> list[dict[str, Any]]:
        """One page of the tenant's exceptions, newest first."""

        def work(conn: sa.Connection) -> list[dict[str, Any]]:
            statement = sa.select(exceptions).where(exceptions.c.tenant == query.tenant)
            for column, value in (
                (exceptions.c.status, query.status),
                (exceptions.c.category, query.category),
                (exceptions.c.severity, query.severity),
                (exceptions.c.source, query.source),
            ):
                if value is not None:
                    statement = statement.where(column == value)
            if query.before is not None:
                statement = statement.where(exceptions.c.position < query.before)
            statement = statement.order_by(exceptions.c.position.desc()).limit(
                query.limit
            )
            return [dict(r._mapping) for r in conn.execute(statement)]

        return await self.transact(work)

    # tenant policies -------------------------------------------------------------
    async def get_policy(self, tenant: str) -> tuple[TenantPolicy, int] | None:
        """The tenant's stored policy and its version, or None if never set."""
        if self.single_statements:
            found = await self.statement(statements.POLICY, tenant)
            if found is None:
                return None
            return TenantPolicy.model_validate_json(found[0]), int(found[1])

        def work(conn: sa.Connection) -> tuple[TenantPolicy, int] | None:
            row = conn.execute(
                sa.select(policies.c.policy, policies.c.version).where(
                    policies.c.tenant == tenant
                )
            ).first()
            if row is None:
                return None
            return TenantPolicy.model_validate_json(row[0]), int(row[1])

        return await self.transact(work)

    async def put_policy(self, tenant: str, policy: TenantPolicy, now: float) -> int:
        """Store the tenant's policy; returns its new version."""

        def work(conn: sa.Connection) -> int:
            text = policy.model_dump_json()
            row = conn.execute(
                sa.select(policies.c.version)
                .where(policies.c.tenant == tenant)
                .with_for_update()
            ).first()
            if row is None:
                conn.execute(
                    insert(conn, policies)
                    .values(tenant=tenant, policy=text, version=1, updated_at=now)
                    .on_conflict_do_nothing(index_elements=["tenant"])
                )
                return 1
            version = int(row[0]) + 1
            conn.execute(
                policies.update()
                .where(policies.c.tenant == tenant)
                .values(policy=text, version=version, updated_at=now)
            )
            return version

        return await self.transact(work)


def _insert_record(
    conn: sa.Connection,
    worker: str,
    ctx: EventContext,
    seq: int,
    stage: Stage,
    run_id: str,
    attempts: int,
    result: dict[str, Any],
    started_at: float,
    now: float,
) -> bool:
    inserted = conn.execute(
        insert(conn, stage_records)
        .values(
            event_id=ctx.event_id,
            exception_id=ctx.exception_id,
            tenant=ctx.tenant,
            seq=seq,
            stage=stage.value,
            run_id=run_id,
            worker=worker,
            attempts=attempts,
            result=dumps(result),
            started_at=started_at,
            recorded_at=now,
        )
        .on_conflict_do_nothing(index_elements=["event_id", "stage"])
    )
    return bool(inserted.rowcount)


def _move(
    conn: sa.Connection,
    ctx: EventContext,
    seq: int,
    target: ExceptionStatus,
    now: float,
    outcome: Outcome,
) -> None:
    """Move the event to `target`: nothing if it is there, through the state
    machine otherwise — back from the dead letters first if it was replayed."""
    values: dict[str, Any] = {"status": target.value, "updated_at": now}
    for name in ("category", "severity", "action", "playbook"):
        value = getattr(outcome, name)
        if value is not None:
            values[name] = value
    if outcome.finished:
        values["finished_at"] = now
    by_id = events.update().where(events.c.event_id == ctx.event_id)
    # the usual case in one statement: a legal move (or a repeated one)
    moved = conn.execute(
        by_id.where(events.c.status.in_(_SOURCES[target])).values(values)
    )
    if not moved.rowcount:
        row = conn.execute(
            sa.select(events.c.status, events.c.failed_from).where(
                events.c.event_id == ctx.event_id
            )
        ).first()
        if row is None:
            raise LookupError(f"event {ctx.event_id} is not stored")
        current = ExceptionStatus(row[0])
        if current is ExceptionStatus.DEAD_LETTERED and row[1] is not None:
            current = check_transition(
                ctx.exception_id, current, ExceptionStatus(row[1])
            )
            values["error"] = None
        check_transition(ctx.exception_id, current, target)
        conn.execute(by_id.values(values))
    _mirror(conn, ctx, seq, target, now, outcome)


_ONE_SNAPSHOT = "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"

_SOURCES = {
    target: sorted(
        {target.value}
        | {s.value for s in ExceptionStatus if can_transition(s, target)}
        - {ExceptionStatus.DEAD_LETTERED.value}
    )
    for target in ExceptionStatus
}
"""Statuses an event may move to each status from without a look first (a
replayed dead-lettered event takes the long way, through where it failed)."""


def _mirror(
    conn: sa.Connection,
    ctx: EventContext,
    seq: int,
    status: ExceptionStatus,
    now: float,
    outcome: Outcome | None = None,
) -> None:
    """The exception shows its latest event's status (and triage)."""
    values: dict[str, Any] = {"status": status.value, "updated_at": now}
    if outcome is not None and outcome.category is not None:
        values["category"] = outcome.category
    if outcome is not None and outcome.severity is not None:
        values["severity"] = outcome.severity
    conn.execute(
        exceptions.update()
        .where(exceptions.c.id == ctx.exception_id, exceptions.c.last_seq == seq)
        .values(values)
    )


def _event_row(row: Any) -> dict[str, Any]:
    found = dict(row._mapping)
    found["snapshot"] = loads(found["snapshot"])
    found["error"] = None if found["error"] is None else loads(found["error"])
    return found
