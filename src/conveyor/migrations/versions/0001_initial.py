"""The initial schema: runs, checkpoints, events, signals and dead letters.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the tables."""
    op.create_table(
        "runs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(
            "submit_seq", sa.BigInteger, sa.Identity(), nullable=False, unique=True
        ),
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
    )
    op.create_index("runs_by_tenant", "runs", ["tenant", "submit_seq"])
    op.create_index("runs_by_status", "runs", ["status", "submit_seq"])
    op.create_table(
        "steps",
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
    op.create_table(
        "events",
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
    op.create_table(
        "signals",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("payload", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("step_id", sa.Integer),
        sqlite_autoincrement=True,
    )
    op.create_index("signals_pending", "signals", ["run_id", "name", "step_id"])
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("tenant", sa.Text, nullable=False),
        sa.Column("workflow", sa.Text, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("replayed_at", sa.Float),
    )
    op.create_index("dead_letters_by_tenant", "dead_letters", ["tenant", "created_at"])


def downgrade() -> None:
    """Drop the tables."""
    for table in ("dead_letters", "signals", "events", "steps", "runs"):
        op.drop_table(table)
