"""The platform's tables: exceptions, their events, stage records, tool executions
and tenant policies.

Revision ID: e0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "e0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "exceptions",
        sa.Column("position", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("tenant", sa.Text, nullable=False),
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
    )
    op.create_index("exceptions_by_tenant", "exceptions", ["tenant", "position"])
    op.create_index(
        "exceptions_by_status", "exceptions", ["tenant", "status", "position"]
    )
    op.create_table(
        "exception_events",
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
    )
    op.create_index("exception_events_by_status", "exception_events", ["status"])
    op.create_table(
        "exception_stage_records",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
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
    )
    op.create_index(
        "exception_stage_records_by_exception",
        "exception_stage_records",
        ["exception_id", "id"],
    )
    op.create_table(
        "exception_tool_executions",
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
    )
    op.create_index(
        "exception_tool_executions_by_exception",
        "exception_tool_executions",
        ["exception_id"],
    )
    op.create_table(
        "exception_policies",
        sa.Column("tenant", sa.Text, primary_key=True),
        sa.Column("policy", sa.Text, nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    """Drop the tables."""
    for table in (
        "exception_policies",
        "exception_tool_executions",
        "exception_stage_records",
        "exception_events",
        "exceptions",
    ):
        op.drop_table(table)
