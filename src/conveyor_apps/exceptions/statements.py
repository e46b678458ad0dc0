"""The stages' writes on PostgreSQL, one SQL statement each.

A stage's record touches three tables (its stage record, its event's status, the
exception's mirror of it). As a transaction of separate statements that is five
round trips — BEGIN, three statements, COMMIT — and round trips, not work, are
what an exception costs on a busy machine. Written as one statement with
data-modifying CTEs, it is one round trip and still atomic (a statement is its
own transaction). Each statement moves the event only from the statuses that
may legally reach the target (or from the target itself: a repeated move is a
no-op) and writes nothing else when it does not move it; the repository then
takes the long way, a transaction that checks the state machine and puts back a
replayed dead-lettered event. SQLite (embedded mode) always takes the long way.
"""

from __future__ import annotations

STAGE = """
WITH moved AS (
    UPDATE exception_events
    SET status = $1, updated_at = $2,
        category = COALESCE($3, category), severity = COALESCE($4, severity),
        action = COALESCE($5, action), playbook = COALESCE($6, playbook),
        finished_at = CASE WHEN $7::boolean THEN $2 ELSE finished_at END
    WHERE event_id = $8 AND status = ANY($9::text[])
    RETURNING event_id
), recorded AS (
    INSERT INTO exception_stage_records
        (event_id, exception_id, tenant, seq, stage, run_id, worker, attempts,
         result, started_at, recorded_at)
    SELECT event_id, $10::text, $11::text, $12::int, $13::text, $14::text,
           $15::text, $16::int, $17::text, $18::float8, $2 FROM moved
    ON CONFLICT (event_id, stage) DO NOTHING
), mirrored AS (
    UPDATE exceptions
    SET status = $1, updated_at = $2,
        category = COALESCE($3, category), severity = COALESCE($4, severity)
    WHERE id = $10 AND last_seq = $12 AND EXISTS (SELECT FROM moved)
)
SELECT count(*) FROM moved
"""
"""Record a stage and move its event: $1 status, $2 now, $3-$6 category,
severity, action, playbook (null: unchanged), $7 finished, $8 event id, $9 the
statuses it may move from, $10 exception id, $11 tenant, $12 seq, $13 stage,
$14 run id, $15 worker, $16 attempts, $17 result (JSON), $18 started at.
Returns 1 if the event moved (and all was written), else 0."""

FIRST_TOOL = """
WITH moved AS (
    UPDATE exception_events SET status = $1, updated_at = $2
    WHERE event_id = $3 AND status = ANY($4::text[])
    RETURNING event_id
), recorded AS (
    INSERT INTO exception_tool_executions
        (idempotency_key, event_id, exception_id, tenant, seq, position, tool,
         external_id, status_code, replayed, attempts, recorded_at)
    SELECT $5::text, event_id, $6::text, $7::text, $8::int, $9::int, $10::text,
           $11::text, $12::int, $13::boolean, $14::int, $2 FROM moved
    ON CONFLICT (idempotency_key) DO NOTHING
), mirrored AS (
    UPDATE exceptions SET status = $1, updated_at = $2
    WHERE id = $6 AND last_seq = $8 AND EXISTS (SELECT FROM moved)
)
SELECT count(*) FROM moved
"""
"""Record an event's first tool call and move the event to `remediating`: $1
status, $2 now, $3 event id, $4 the statuses it may move from, $5 idempotency
key, $6 exception id, $7 tenant, $8 seq, $9 position, $10 tool, $11 external id,
$12 status code, $13 replayed, $14 attempts. Returns 1 if the event moved."""

TOOL = """
INSERT INTO exception_tool_executions
    (idempotency_key, event_id, exception_id, tenant, seq, position, tool,
     external_id, status_code, replayed, attempts, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (idempotency_key) DO NOTHING
"""
"""Record a later tool call of an event (once, by its idempotency key)."""

INTAKE = """
WITH known AS (
    SELECT seq FROM exception_events WHERE event_id = $1
), numbered AS (
    INSERT INTO exceptions AS x
        (id, tenant, status, source, kind, message, external_ref, fingerprint,
         last_seq, created_at, updated_at)
    SELECT $2::text, $3::text, $4::text, $5::text, $6::text, $7::text,
           $8::text, $9::text, 1, $10::float8, $11::float8
    WHERE NOT EXISTS (SELECT FROM known)
    ON CONFLICT (id) DO UPDATE
    SET status = EXCLUDED.status, source = EXCLUDED.source, kind = EXCLUDED.kind,
        message = EXCLUDED.message, external_ref = EXCLUDED.external_ref,
        fingerprint = EXCLUDED.fingerprint, last_seq = x.last_seq + 1,
        updated_at = EXCLUDED.updated_at
    RETURNING last_seq
), stored AS (
    INSERT INTO exception_events
        (event_id, exception_id, tenant, seq, type, status, snapshot,
         ingested_at, updated_at)
    SELECT $1, $2, $3, last_seq, $12::text, $4, $13::text, $10, $11
    FROM numbered
), recorded AS (
    INSERT INTO exception_stage_records
        (event_id, exception_id, tenant, seq, stage, run_id, worker, attempts,
         result, started_at, recorded_at)
    SELECT $1, $2, $3, last_seq, 'intake', $14::text, $15::text, 1,
           '{"seq":' || last_seq || '}', $16::float8, $11
    FROM numbered
)
SELECT seq FROM known UNION ALL SELECT last_seq FROM numbered
"""
"""Store an event (and its exception, or the exception's next number): $1 event
id, $2 exception id, $3 tenant, $4 status, $5-$9 source, kind, message,
external ref, fingerprint, $10 ingested at, $11 now, $12 type, $13 snapshot
(JSON), $14 run id, $15 worker, $16 started at. Returns the event's number —
the one it was given the first time, if it was stored already."""

POLICY = "SELECT policy, version FROM exception_policies WHERE tenant = $1"
"""The tenant's stored policy (JSON) and its version."""
