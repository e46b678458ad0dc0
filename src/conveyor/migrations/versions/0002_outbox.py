"""The transactional outbox, and runs indexed by ordering key.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the outbox and the key index."""
    op.create_index("runs_by_key", "runs", ["tenant", "key", "submit_seq"])
    op.create_table(
        "outbox",
        sa.Column("msg_id", sa.Text, primary_key=True),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("run_id", sa.Text, nullable=False),
        sa.Column("data", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("published_at", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_index("outbox_by_run", "outbox", ["run_id"])
    op.create_index("outbox_by_age", "outbox", ["created_at"])


def downgrade() -> None:
    """Drop the outbox and the key index."""
    op.drop_table("outbox")
    op.drop_index("runs_by_key", table_name="runs")
