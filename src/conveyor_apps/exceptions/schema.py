"""The platform's tables, beside the engine's in the same PostgreSQL database (or a
SQLite file of their own in embedded mode). They are what the stages recorded, kept
equal to what the migrations in `migrations/` build.

The engine's runs stay the source of truth for what must happen: an event exists
once its Intake run is stored, and every row here is written by a stage step,
idempotently, so a re-run or replayed step never writes twice.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

# SQLite's rowid alias must be spelled INTEGER; PostgreSQL gets a 64-bit column.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

exceptions = sa.Table(
    "exceptions",
    metadata,
    sa.Column("position", BigId, primary_key=True, autoincrement=True),
    sa.Column("id", sa.Text, nullable=False, unique=True),
    sa.Column("tenant", sa.Text, nullable=False),
    # the status, category and severity of the latest event
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("category", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("external_ref", sa.Text),
    sa.Column("fingerprint", sa.Text, nullable=False),
    sa.Column("last_seq", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("exceptions_by_tenant", "tenant", "position"),
    sa.Index("exceptions_by_status", "tenant", "status", "position"),
)

events = sa.Table(
    "exception_events",
    metadata,
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("exception_id", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("category", sa.Text),
    sa.Column("severity", sa.Text),
    sa.Column("action", sa.Text),
    sa.Column("playbook", sa.Text),
    sa.Column("failed_stage", sa.Text),
    sa.Column("failed_from", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("snapshot", sa.Text, nullable=False),
    sa.Column("ingested_at", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.UniqueConstraint("exception_id", "seq", name="exception_events_order"),
    sa.Index("exception_events_by_status", "status"),
)

stage_records = sa.Table(
    "exception_stage_records",
    metadata,
    # the order in which stages finished, across every worker
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("exception_id", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("stage", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("worker", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.UniqueConstraint("event_id", "stage", name="exception_stage_once"),
    sa.Index("exception_stage_records_by_exception", "exception_id", "id"),
)

tool_executions = sa.Table(
    "exception_tool_executions",
    metadata,
    sa.Column("idempotency_key", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("exception_id", sa.Text, nullable=False),
    sa.Column("tenant", sa.Text, nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("tool", sa.Text, nullable=False),
    sa.Column("external_id", sa.Text, nullable=False),
    sa.Column("status_code", sa.Integer, nullable=False),
    sa.Column("replayed", sa.Boolean, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("recorded_at", sa.Float, nullable=False),
    sa.Index("exception_tool_executions_by_exception", "exception_id"),
)

policies = sa.Table(
    "exception_policies",
    metadata,
    sa.Column("tenant", sa.Text, primary_key=True),
    sa.Column("policy", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
