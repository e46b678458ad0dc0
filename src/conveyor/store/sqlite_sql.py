"""The SQL of `SqliteStore`, and the mapping between rows and records.

`SCHEMA` builds what the Alembic migrations build up to `SCHEMA_REVISION` (a test
compares the two), so a new embedded database starts without loading Alembic.
"""

from __future__ import annotations

from typing import Any

from ..events import Event
from ..runs import RunRecord, RunStatus
from ..serde import dumps, loads
from .base import DeadLetter, RunQuery, SignalRecord, StepRecord, WriteBatch

SCHEMA = """
CREATE TABLE IF NOT EXISTS alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE IF NOT EXISTS runs (
    id TEXT NOT NULL PRIMARY KEY,
    submit_seq BIGINT NOT NULL UNIQUE,
    workflow TEXT NOT NULL,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    "key" TEXT,
    idempotency_key TEXT,
    session_id TEXT,
    parent_run_id TEXT,
    input TEXT,
    output TEXT,
    error TEXT,
    owner TEXT,
    lease_epoch INTEGER DEFAULT '0' NOT NULL,
    lease_expires_at FLOAT DEFAULT '0' NOT NULL,
    recoveries INTEGER DEFAULT '0' NOT NULL,
    cancel_requested INTEGER DEFAULT '0' NOT NULL,
    last_seq INTEGER DEFAULT '0' NOT NULL,
    query_state TEXT,
    created_at FLOAT NOT NULL,
    updated_at FLOAT NOT NULL,
    CONSTRAINT runs_idempotency UNIQUE (tenant, idempotency_key)
);
CREATE INDEX IF NOT EXISTS runs_by_tenant ON runs (tenant, submit_seq);
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, submit_seq);
CREATE INDEX IF NOT EXISTS runs_by_key ON runs (tenant, "key", submit_seq);
CREATE INDEX IF NOT EXISTS runs_by_session ON runs (tenant, session_id, submit_seq)
    WHERE session_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS steps (
    run_id TEXT NOT NULL,
    step_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    input_digest TEXT NOT NULL,
    output TEXT,
    error TEXT,
    attempts INTEGER NOT NULL,
    started_at FLOAT NOT NULL,
    finished_at FLOAT,
    PRIMARY KEY (run_id, step_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    ts FLOAT NOT NULL,
    tenant TEXT NOT NULL,
    workflow TEXT NOT NULL,
    session_id TEXT,
    step TEXT,
    attempt INTEGER,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS signals (
    id INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    name TEXT NOT NULL,
    payload TEXT,
    created_at FLOAT NOT NULL,
    step_id INTEGER
);
CREATE INDEX IF NOT EXISTS signals_pending ON signals (run_id, name, step_id);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT NOT NULL PRIMARY KEY,
    run_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    workflow TEXT NOT NULL,
    error TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    created_at FLOAT NOT NULL,
    replayed_at FLOAT
);
CREATE INDEX IF NOT EXISTS dead_letters_by_tenant ON dead_letters (tenant, created_at);
CREATE TABLE IF NOT EXISTS outbox (
    msg_id TEXT NOT NULL PRIMARY KEY,
    kind TEXT NOT NULL,
    run_id TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at FLOAT NOT NULL,
    published_at FLOAT,
    attempts INTEGER DEFAULT '0' NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_by_run ON outbox (run_id);
CREATE INDEX IF NOT EXISTS outbox_by_age ON outbox (created_at);
"""

RUN_COLUMNS = (
    "id, submit_seq, workflow, tenant, status, key, idempotency_key, session_id, "
    "parent_run_id, input, output, error, owner, lease_epoch, lease_expires_at, "
    "recoveries, cancel_requested, last_seq, query_state, created_at, updated_at"
)
INSERT_RUN = (
    f"INSERT INTO runs ({RUN_COLUMNS}) "
    "VALUES (?, (SELECT COALESCE(MAX(submit_seq), 0) + 1 FROM runs), "
    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING submit_seq"
)
SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"
SELECT_RUN_EXISTS = "SELECT 1 FROM runs WHERE id = ?"
SELECT_RUN_BY_IDEMPOTENCY = (
    f"SELECT {RUN_COLUMNS} FROM runs WHERE tenant = ? AND idempotency_key = ?"
)
SELECT_UNFINISHED = (
    f"SELECT {RUN_COLUMNS} FROM runs "
    "WHERE status IN ('pending', 'running', 'retrying') ORDER BY submit_seq"
)
REQUEST_CANCEL = "UPDATE runs SET cancel_requested = 1 WHERE id = ?"
ACQUIRE_LEASE = """
UPDATE runs SET owner = ?, lease_expires_at = ?, lease_epoch = lease_epoch + 1,
    updated_at = ?
WHERE id = ? AND (owner IS NULL OR owner = ? OR lease_expires_at < ? OR ?)
"""
RENEW_LEASE = (
    "UPDATE runs SET lease_expires_at = ? "
    "WHERE id = ? AND owner = ? AND lease_epoch = ?"
)
UPSERT_STEP = """
INSERT INTO steps (run_id, step_id, name, kind, status, input_digest, output, error,
    attempts, started_at, finished_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
    output = excluded.output, error = excluded.error, attempts = excluded.attempts,
    finished_at = excluded.finished_at
"""
SELECT_STEPS = (
    "SELECT run_id, step_id, name, kind, status, input_digest, output, error, "
    "attempts, started_at, finished_at FROM steps WHERE run_id = ?"
)
DELETE_FAILED_STEPS = "DELETE FROM steps WHERE run_id = ? AND status = 'failed'"
INSERT_EVENT = """
INSERT INTO events (run_id, seq, type, ts, tenant, workflow, session_id, step,
    attempt, data)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SELECT_EVENTS = (
    "SELECT run_id, seq, type, ts, tenant, workflow, session_id, step, attempt, data "
    "FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?"
)
DELETE_EVENTS_UPTO = "DELETE FROM events WHERE run_id = ? AND seq <= ?"
INSERT_SIGNAL = (
    "INSERT INTO signals (run_id, name, payload, created_at) VALUES (?, ?, ?, ?)"
)
SELECT_PENDING_SIGNALS = (
    "SELECT id, run_id, name, payload, created_at, step_id FROM signals "
    "WHERE run_id = ? AND name = ? AND step_id IS NULL ORDER BY id"
)
CONSUME_SIGNAL = "UPDATE signals SET step_id = ? WHERE id = ? AND step_id IS NULL"
DEAD_LETTER_COLUMNS = (
    "id, run_id, tenant, workflow, error, attempts, created_at, replayed_at"
)
INSERT_DEAD_LETTER = (
    f"INSERT INTO dead_letters ({DEAD_LETTER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
SELECT_DEAD_LETTER = f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters WHERE id = ?"
MARK_REPLAYED = "UPDATE dead_letters SET replayed_at = ? WHERE id = ?"


def list_runs_query(query: RunQuery) -> tuple[str, list[Any]]:
    """SQL and parameters for a filtered, paginated run listing."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("tenant", query.tenant),
        ("status", query.status.value if query.status else None),
        ("workflow", query.workflow),
        ("key", query.key),
        ("session_id", query.session_id),
    ):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.before_seq is not None:
        clauses.append("submit_seq < ?")
        params.append(query.before_seq)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(query.limit)
    return (
        f"SELECT {RUN_COLUMNS} FROM runs {where} ORDER BY submit_seq DESC LIMIT ?",
        params,
    )


def list_dead_letters_query(
    tenant: str | None, limit: int, include_replayed: bool
) -> tuple[str, list[Any]]:
    """SQL and parameters for listing dead letters."""
    clauses: list[str] = []
    params: list[Any] = []
    if tenant is not None:
        clauses.append("tenant = ?")
        params.append(tenant)
    if not include_replayed:
        clauses.append("replayed_at IS NULL")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    params.append(limit)
    return (
        f"SELECT {DEAD_LETTER_COLUMNS} FROM dead_letters {where} "
        "ORDER BY created_at DESC, id DESC LIMIT ?",
        params,
    )


def run_params(run: RunRecord) -> tuple[Any, ...]:
    """Row values of a new run, in `RUN_COLUMNS` order less `submit_seq` (the
    insert assigns the next one)."""
    return (
        run.id,
        run.workflow,
        run.tenant,
        run.status._value_,
        run.key,
        run.idempotency_key,
        run.session_id,
        run.parent_run_id,
        dumps(run.input),
        dumps(run.output),
        dumps(run.error) if run.error is not None else None,
        run.owner,
        run.lease_epoch,
        run.lease_expires_at,
        run.recoveries,
        int(run.cancel_requested),
        run.last_seq,
        dumps(run.query_state),
        run.created_at,
        run.updated_at,
    )


def run_from_row(row: Any) -> RunRecord:
    """A run record from a row in `RUN_COLUMNS` order."""
    return RunRecord(
        id=row[0],
        submit_seq=row[1],
        workflow=row[2],
        tenant=row[3],
        status=RunStatus(row[4]),
        key=row[5],
        idempotency_key=row[6],
        session_id=row[7],
        parent_run_id=row[8],
        input=loads(row[9]),
        output=loads(row[10]),
        error=loads(row[11]),
        owner=row[12],
        lease_epoch=row[13],
        lease_expires_at=row[14],
        recoveries=row[15],
        cancel_requested=bool(row[16]),
        last_seq=row[17],
        query_state=loads(row[18]) or {},
        created_at=row[19],
        updated_at=row[20],
    )


CHECKPOINT_UPDATE = (
    "UPDATE runs SET updated_at = ?, last_seq = ? WHERE id = ? AND lease_epoch = ?"
)


def fenced_update(batch: WriteBatch, now: float) -> tuple[str, tuple[Any, ...]]:
    """The fenced `UPDATE runs` of one batch, setting only what the batch changes:
    assigning a column, even to itself, makes SQLite rewrite the indexes holding
    it, which made the common checkpoint write three times slower."""
    update = batch.update
    if update is None and batch.last_seq is not None:  # a plain checkpoint
        return CHECKPOINT_UPDATE, (now, batch.last_seq, batch.run_id, batch.epoch)
    columns = ["updated_at = ?"]
    params: list[Any] = [now]
    if batch.last_seq is not None:
        columns.append("last_seq = ?")
        params.append(batch.last_seq)
    if update is not None:
        if update.status is not None:
            columns += ["status = ?", "error = ?"]
            params += [
                update.status._value_,
                dumps(update.error) if update.error is not None else None,
            ]
        if update.set_output:
            columns.append("output = ?")
            params.append(dumps(update.output))
        if update.query_state is not None:
            columns.append("query_state = ?")
            params.append(dumps(update.query_state))
        if update.release_lease:
            columns += ["owner = NULL", "lease_expires_at = 0"]
        elif update.lease_until is not None:
            columns.append("lease_expires_at = ?")
            params.append(update.lease_until)
        if update.reset_recoveries:
            columns.append("recoveries = 0")
        elif update.count_recovery:
            columns.append("recoveries = recoveries + 1")
    params += [batch.run_id, batch.epoch]
    text = f"UPDATE runs SET {', '.join(columns)} WHERE id = ? AND lease_epoch = ?"
    return text, tuple(params)


def step_params(step: StepRecord) -> tuple[Any, ...]:
    """Row values of a checkpoint."""
    return (
        step.run_id,
        step.step_id,
        step.name,
        step.kind,
        step.status,
        step.input_digest,
        dumps(step.output),
        dumps(step.error) if step.error is not None else None,
        step.attempts,
        step.started_at,
        step.finished_at,
    )


def step_from_row(row: Any) -> StepRecord:
    """A checkpoint from a `SELECT_STEPS` row."""
    return StepRecord(
        run_id=row[0],
        step_id=row[1],
        name=row[2],
        kind=row[3],
        status=row[4],
        input_digest=row[5],
        output=loads(row[6]),
        error=loads(row[7]),
        attempts=row[8],
        started_at=row[9],
        finished_at=row[10],
    )


def event_params(event: Event) -> tuple[Any, ...]:
    """Row values of an event."""
    return (
        event.run_id,
        event.seq,
        event.type,
        event.timestamp,
        event.tenant,
        event.workflow,
        event.session_id,
        event.step,
        event.attempt,
        dumps(event.data) if event.data else "{}",
    )


def event_from_row(row: Any) -> Event:
    """An event from a `SELECT_EVENTS` row."""
    return Event(
        run_id=row[0],
        seq=row[1],
        type=row[2],
        timestamp=row[3],
        tenant=row[4],
        workflow=row[5],
        session_id=row[6],
        step=row[7],
        attempt=row[8],
        data=loads(row[9]),
    )


def signal_from_row(row: Any) -> SignalRecord:
    """A signal from a `SELECT_PENDING_SIGNALS` row."""
    return SignalRecord(
        id=row[0],
        run_id=row[1],
        name=row[2],
        payload=loads(row[3]),
        created_at=row[4],
        step_id=row[5],
    )


def dead_letter_params(letter: DeadLetter) -> tuple[Any, ...]:
    """Row values of a dead letter."""
    return (
        letter.id,
        letter.run_id,
        letter.tenant,
        letter.workflow,
        dumps(letter.error),
        letter.attempts,
        letter.created_at,
        letter.replayed_at,
    )


def dead_letter_from_row(row: Any) -> DeadLetter:
    """A dead letter from a row in `DEAD_LETTER_COLUMNS` order."""
    return DeadLetter(
        id=row[0],
        run_id=row[1],
        tenant=row[2],
        workflow=row[3],
        error=loads(row[4]),
        attempts=row[5],
        created_at=row[6],
        replayed_at=row[7],
    )
