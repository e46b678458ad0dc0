"""The SQL of `PostgresStore` (asyncpg, `$n` parameters). Rows come back in the
column order of `sqlite_sql`, so the same row mappers serve both stores.

A commit group applies many owners' batches with a handful of statements over
arrays (`unnest`), whatever the group's size.
"""

from __future__ import annotations

from .sqlite_sql import RUN_COLUMNS

ACTIVE = "('pending', 'running', 'retrying')"

CREATE_RUNS = """
WITH r AS (
    INSERT INTO runs (id, workflow, tenant, status, "key", idempotency_key,
        session_id, parent_run_id, input, output, error, owner, lease_epoch,
        lease_expires_at, recoveries, cancel_requested, last_seq, query_state,
        created_at, updated_at)
    SELECT id, workflow, tenant, status, "key", idempotency_key, session_id,
        parent_run_id, input, output, error, owner, lease_epoch, lease_expires_at,
        recoveries, cancel_requested, last_seq, query_state, created_at, updated_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
        $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[],
        $12::text[], $13::int[], $14::float8[], $15::int[], $16::int[], $17::int[],
        $18::text[], $19::float8[], $20::float8[]) WITH ORDINALITY
        AS n(id, workflow, tenant, status, "key", idempotency_key, session_id,
            parent_run_id, input, output, error, owner, lease_epoch,
            lease_expires_at, recoveries, cancel_requested, last_seq, query_state,
            created_at, updated_at, ord)
    ORDER BY ord
    ON CONFLICT DO NOTHING
    RETURNING id, submit_seq
), e AS (
    INSERT INTO events (run_id, seq, type, ts, tenant, workflow, session_id, step,
        attempt, data)
    SELECT * FROM unnest($21::text[], $22::int[], $23::text[], $24::float8[],
        $25::text[], $26::text[], $27::text[], $28::text[], $29::int[],
        $30::text[]) AS e(run_id, seq, type, ts, tenant, workflow, session_id, step,
            attempt, data)
    WHERE e.run_id IN (SELECT id FROM r)
), o AS (
    INSERT INTO outbox (msg_id, kind, run_id, data, created_at)
    SELECT msg_id, 'dispatch', run_id, data, created_at
    FROM unnest($31::text[], $32::text[], $33::text[], $34::float8[])
        AS o(msg_id, run_id, data, created_at)
    WHERE o.run_id IN (SELECT id FROM r)
)
SELECT id, submit_seq FROM r
"""
"""New runs (in submission order, so `submit_seq` follows it), their first events
and dispatch messages, in one statement; runs whose id or idempotency key exists
are skipped, with their event and message."""
SELECT_RUN = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = $1"
SELECT_RUNS = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ANY($1::text[])"
SELECT_RUN_BY_IDEMPOTENCY = (
    f"SELECT {RUN_COLUMNS} FROM runs WHERE tenant = $1 AND idempotency_key = $2"
)
SELECT_UNFINISHED = (
    f"SELECT {RUN_COLUMNS} FROM runs WHERE status IN {ACTIVE} ORDER BY submit_seq"
)
REQUEST_CANCEL = "UPDATE runs SET cancel_requested = 1 WHERE id = $1 RETURNING id"
ACQUIRE_LEASE = f"""
UPDATE runs SET owner = $2, lease_expires_at = $3 + $4,
    lease_epoch = lease_epoch + 1, updated_at = $3
WHERE id = $1 AND (owner IS NULL OR owner = $2 OR lease_expires_at < $3 OR $5)
RETURNING {RUN_COLUMNS}
"""
# What every claim sets, and when a run may be claimed: active, free (or already
# ours, or its lease expired), and no earlier run of its key still unfinished.
# Shared by the three claim statements so they cannot drift apart.
_TAKE_LEASE = (
    "owner = $2, lease_expires_at = $3 + $4, "
    "lease_epoch = lease_epoch + 1, updated_at = $3"
)
_CLAIMABLE = f"""status IN {ACTIVE}
        AND (owner IS NULL OR owner = $2 OR lease_expires_at < $3)
        AND NOT ("key" IS NOT NULL AND EXISTS (
            SELECT 1 FROM runs p WHERE p.tenant = runs.tenant AND p."key" = runs."key"
                AND p.submit_seq < runs.submit_seq AND p.status IN {ACTIVE}))"""
CLAIM_RUN = f"""
WITH c AS (
    UPDATE runs SET {_TAKE_LEASE}
    FROM (SELECT id AS old_id, owner AS old_owner FROM runs WHERE id = $1
        FOR UPDATE) AS old
    WHERE runs.id = old.old_id AND {_CLAIMABLE}
    RETURNING {RUN_COLUMNS}, old.old_owner
), d AS (
    DELETE FROM outbox WHERE run_id = $1 AND kind = 'dispatch'
        AND EXISTS (SELECT 1 FROM c)
)
SELECT * FROM c
"""
CLAIM_RUNS = f"""
WITH old AS (
    SELECT id AS old_id, owner AS old_owner FROM runs WHERE id = ANY($1::text[])
    ORDER BY id FOR UPDATE
), c AS (
    UPDATE runs SET {_TAKE_LEASE}
    FROM old
    WHERE runs.id = old.old_id AND {_CLAIMABLE}
    RETURNING {RUN_COLUMNS}, old.old_owner
), d AS (
    DELETE FROM outbox WHERE run_id IN (SELECT id FROM c) AND kind = 'dispatch'
)
SELECT * FROM c
"""
"""`CLAIM_RUN` for many runs in one statement (rows locked in id order, so two
claimers of overlapping sets cannot deadlock)."""
CLAIM_RUN_LIMITED = f"""
WITH held AS MATERIALIZED (
    SELECT conveyor_tenant_held($5, $3, $1) AS n
), c AS (
    UPDATE runs SET {_TAKE_LEASE}
    FROM (SELECT id AS old_id, owner AS old_owner FROM runs WHERE id = $1
        FOR UPDATE) AS old
    WHERE (SELECT n FROM held) < $6
        AND runs.id = old.old_id AND {_CLAIMABLE}
    RETURNING {RUN_COLUMNS}, old.old_owner
), d AS (
    DELETE FROM outbox WHERE run_id = $1 AND kind = 'dispatch'
        AND EXISTS (SELECT 1 FROM c)
)
SELECT c.*, held.n FROM held LEFT JOIN c ON true
"""
"""`CLAIM_RUN` only while the tenant `$5` holds fewer than `$6` live leases, in
one statement: `conveyor_tenant_held` (migration 0003) takes the tenant's
transaction-scoped advisory lock, then counts from `runs_leased_by_tenant` with a
snapshot that sees every claim its previous holders committed; the lock goes with
this statement's own transaction. The count is decided before the run's row is
locked, so claims of one tenant queue on its lock in one order. One row: the
run's columns and previous owner (all NULL if not claimed), then the leases the
tenant held."""
NEXT_IN_KEY = f"""
SELECT id, workflow FROM runs WHERE tenant = $1 AND "key" = $2 AND status IN {ACTIVE}
ORDER BY submit_seq LIMIT 1
"""
EXPIRED_RUNS = f"""
SELECT {RUN_COLUMNS} FROM runs WHERE status IN {ACTIVE} AND lease_epoch > 0
    AND (lease_expires_at < $1 OR owner = $3)
ORDER BY submit_seq LIMIT $2
"""
RELEASE_LEASES = """
UPDATE runs SET lease_expires_at = 0
FROM unnest($2::text[], $3::int[]) AS h(id, epoch)
WHERE runs.id = h.id AND runs.owner = $1 AND runs.lease_epoch = h.epoch
RETURNING runs.id
"""
CANCEL_FLAGS = "SELECT id FROM runs WHERE id = ANY($1) AND cancel_requested = 1"
RENEW_LEASES = """
UPDATE runs SET lease_expires_at = $1
FROM unnest($3::text[], $4::int[]) AS h(id, epoch)
WHERE runs.id = h.id AND runs.owner = $2 AND runs.lease_epoch = h.epoch
RETURNING runs.id, runs.cancel_requested
"""
FENCED_UPDATE = """
UPDATE runs AS r SET
    last_seq = COALESCE(u.last_seq, r.last_seq),
    status = COALESCE(u.status, r.status),
    output = CASE WHEN u.set_output THEN u.output ELSE r.output END,
    error = CASE WHEN u.status IS NOT NULL THEN u.error ELSE r.error END,
    query_state = COALESCE(u.query_state, r.query_state),
    owner = CASE WHEN u.release THEN NULL ELSE r.owner END,
    lease_expires_at = CASE WHEN u.release THEN 0
        ELSE COALESCE(u.lease_until, r.lease_expires_at) END,
    recoveries = r.recoveries + u.recoveries,
    updated_at = $12
FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::bool[], $6::text[],
    $7::text[], $8::text[], $9::bool[], $10::float8[], $11::int[])
    AS u(id, epoch, last_seq, status, set_output, output, error, query_state,
        release, lease_until, recoveries)
WHERE r.id = u.id AND r.lease_epoch = u.epoch
RETURNING r.id, r.tenant, r."key", r.workflow
"""
_UPDATE_SET = """
    last_seq = COALESCE(u.last_seq, r.last_seq),
    status = COALESCE(u.status, r.status),
    output = CASE WHEN u.set_output THEN u.output ELSE r.output END,
    error = CASE WHEN u.status IS NOT NULL THEN u.error ELSE r.error END,
    query_state = COALESCE(u.query_state, r.query_state),
    owner = CASE WHEN u.release THEN NULL ELSE r.owner END,
    lease_expires_at = CASE WHEN u.release THEN 0
        ELSE COALESCE(u.lease_until, r.lease_expires_at) END,
    recoveries = r.recoveries + u.recoveries"""
_STEP_COLUMNS = """run_id, step_id, name, kind, status, input_digest, output, error,
    attempts, started_at, finished_at"""
_EVENT_COLUMNS = """run_id, seq, type, ts, tenant, workflow, session_id, step,
    attempt, data"""
GROUP_COMMIT = f"""
WITH u AS (
    UPDATE runs AS r SET {_UPDATE_SET}, updated_at = $12
    FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::bool[],
        $6::text[], $7::text[], $8::text[], $9::bool[], $10::float8[], $11::int[])
        AS u(id, epoch, last_seq, status, set_output, output, error, query_state,
            release, lease_until, recoveries)
    WHERE r.id = u.id AND r.lease_epoch = u.epoch
    RETURNING r.id
), s AS (
    INSERT INTO steps ({_STEP_COLUMNS})
    SELECT * FROM unnest($13::text[], $14::int[], $15::text[], $16::text[],
        $17::text[], $18::text[], $19::text[], $20::text[], $21::int[],
        $22::float8[], $23::float8[]) AS s({_STEP_COLUMNS})
    WHERE s.run_id IN (SELECT id FROM u)
    ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
        output = excluded.output, error = excluded.error,
        attempts = excluded.attempts, finished_at = excluded.finished_at
), e AS (
    INSERT INTO events ({_EVENT_COLUMNS})
    SELECT * FROM unnest($24::text[], $25::int[], $26::text[], $27::float8[],
        $28::text[], $29::text[], $30::text[], $31::text[], $32::int[],
        $33::text[]) AS e({_EVENT_COLUMNS})
    WHERE e.run_id IN (SELECT id FROM u)
)
SELECT id FROM u
"""
"""A whole commit group in one statement (one round trip, atomic without an
explicit transaction): the fenced run updates, and the checkpoints and events of
the runs whose fence held."""
UPSERT_STEPS = """
INSERT INTO steps (run_id, step_id, name, kind, status, input_digest, output, error,
    attempts, started_at, finished_at)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::int[], $10::float8[], $11::float8[])
ON CONFLICT (run_id, step_id) DO UPDATE SET status = excluded.status,
    output = excluded.output, error = excluded.error, attempts = excluded.attempts,
    finished_at = excluded.finished_at
"""
INSERT_EVENTS = """
INSERT INTO events (run_id, seq, type, ts, tenant, workflow, session_id, step,
    attempt, data)
SELECT * FROM unnest($1::text[], $2::int[], $3::text[], $4::float8[], $5::text[],
    $6::text[], $7::text[], $8::text[], $9::int[], $10::text[])
"""
CONSUME_SIGNALS = """
UPDATE signals SET step_id = c.step_id
FROM unnest($1::int[], $2::bigint[]) AS c(step_id, id)
WHERE signals.id = c.id AND signals.step_id IS NULL
"""
DELETE_FAILED_STEPS = "DELETE FROM steps WHERE run_id = ANY($1) AND status = 'failed'"
INSERT_DEAD_LETTER = """
INSERT INTO dead_letters (id, run_id, tenant, workflow, error, attempts, created_at,
    replayed_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING
"""
MARK_REPLAYED = "UPDATE dead_letters SET replayed_at = $1 WHERE id = $2"
INSERT_OUTBOX = """
INSERT INTO outbox (msg_id, kind, run_id, data, created_at)
VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING
"""
SELECT_STEPS = (
    "SELECT run_id, step_id, name, kind, status, input_digest, output, error, "
    "attempts, started_at, finished_at FROM steps WHERE run_id = $1"
)
SELECT_EVENTS = (
    "SELECT run_id, seq, type, ts, tenant, workflow, session_id, step, attempt, data "
    "FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
)
DELETE_EVENTS_UPTO = "DELETE FROM events WHERE run_id = $1 AND seq <= $2"
INSERT_SIGNAL = """
INSERT INTO signals (run_id, name, payload, created_at)
SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM runs WHERE id = $1)
RETURNING id
"""
SELECT_PENDING_SIGNALS = (
    "SELECT id, run_id, name, payload, created_at, step_id FROM signals "
    "WHERE run_id = $1 AND name = $2 AND step_id IS NULL ORDER BY id"
)
SELECT_DEAD_LETTER = (
    "SELECT id, run_id, tenant, workflow, error, attempts, created_at, replayed_at "
    "FROM dead_letters WHERE id = $1"
)
CLAIM_OUTBOX = f"""
WITH due AS (
    SELECT o.msg_id, r.status IN {ACTIVE} AS live
    FROM outbox o LEFT JOIN runs r ON r.id = o.run_id
    WHERE o.created_at < $1::float8 - $2::float8
        AND (o.published_at IS NULL OR o.published_at < $1::float8 - $3::float8)
    ORDER BY o.created_at LIMIT $4 FOR UPDATE OF o SKIP LOCKED
), gone AS (
    DELETE FROM outbox WHERE msg_id IN (SELECT msg_id FROM due WHERE live IS NOT TRUE)
)
UPDATE outbox SET published_at = $1, attempts = attempts + 1
WHERE msg_id IN (SELECT msg_id FROM due WHERE live)
RETURNING msg_id, kind, run_id, data, attempts
"""
"""Take the outbox messages due for (re)publishing, and drop those of runs that
ended meanwhile, in one statement."""
HOLD_DISPATCHES = """
UPDATE outbox SET published_at = $2 WHERE run_id = ANY($1::text[]) AND kind = 'dispatch'
"""
"""Mark runs' dispatch messages as just sent (a worker holds the runs), or as
never sent (`NULL`: the relay takes them at its next round)."""


def numbered(text: str) -> str:
    """Turn `?` placeholders (SQLite's) into `$1, $2, …` (asyncpg's)."""
    parts = text.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)
