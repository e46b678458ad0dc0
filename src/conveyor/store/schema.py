"""The tables of every SQL store as SQLAlchemy Core metadata: one definition for
SQLite and PostgreSQL, kept equal to what the Alembic migrations build (a test
compares the two on both databases).

Times are seconds since the epoch (double precision); JSON values are stored as
text so both databases hold the same bytes.
"""

from __future__ import annotations

import sqlalchemy as sa

from .base import SCHEMA_REVISION as SCHEMA_REVISION

metadata = sa.MetaData()

# SQLite's rowid alias must be spelled INTEGER; PostgreSQL gets a 64-bit column.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    # Submission order. SQLite assigns MAX+1 inside its single writer; PostgreSQL
    # draws from an identity sequence, as concurrent inserts would clash on MAX+1.
    sa.Column("submit_seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True),
    sa.Column("workflow", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("key", sa.Text),
    sa.Column("idempotency_key", sa.Text),
    sa.Column("session_id", sa.Text),
    sa.Column("parent_run_id", sa.Text),
    sa.Column("input", sa.Text),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("owner", sa.Text),
    sa.Column("lease_epoch", sa.Integer, nullable=False, server_default="0"),
    sa.Column("lease_expires_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("recoveries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cancel_requested", sa.Integer, nullable=False, server_default="0"),
    sa.Column("last_seq", sa.Integer, nullable=False, server_default="0"),
    sa.Column("query_state", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.UniqueConstraint("tenant", "idempotency_key", name="runs_idempotency"),
    sa.Index("runs_by_tenant", "tenant", "submit_seq"),
    sa.Index("runs_by_status", "status", "submit_seq"),
    sa.Index("runs_by_key", "tenant", "key", "submit_seq"),
    # Partial: runs without a session cost it nothing.
    sa.Index(
        "runs_by_session",
        "tenant",
        "session_id",
        "submit_seq",
        postgresql_where=sa.text("session_id IS NOT NULL"),
        sqlite_where=sa.text("session_id IS NOT NULL"),
    ),
    # Claims under a tenant limit count live leases from it (PostgreSQL only:
    # embedded mode counts in memory).
    sa.Index(
        "runs_leased_by_tenant", "tenant", postgresql_where=sa.text("owner IS NOT NULL")
    ).ddl_if(dialect="postgresql"),
)

steps = sa.Table(
    "steps",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("step_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("input_digest", sa.Text, nullable=False),
    sa.Column("output", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sqlite_with_rowid=False,
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("workflow", sa.Text, nullable=False),
    sa.Column("session_id", sa.Text),
    sa.Column("step", sa.Text),
    sa.Column("attempt", sa.Integer),
    sa.Column("data", sa.Text, nullable=False),
    sqlite_with_rowid=False,
)

signals = sa.Table(
    "signals",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("payload", sa.Text),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("step_id", sa.Integer),
    sa.Index("signals_pending", "run_id", "name", "step_id"),
    sqlite_autoincrement=True,
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("workflow", sa.Text, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("replayed_at", sa.Float),
    sa.Index("dead_letters_by_tenant", "tenant", "created_at"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    # A message written in the same transaction as the state change it announces;
    # deleted when the run is claimed, republished by the relay until then.
    sa.Column("msg_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("published_at", sa.Float),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Index("outbox_by_run", "run_id"),
    sa.Index("outbox_by_age", "created_at"),
)
