"""Runs indexed by session: listing a session's runs (`GET /v1/runs?session_id=`,
an exception platform's stages of one exception) no longer scans the tenant's
runs. Partial: runs without a session (most, in many apps) cost it nothing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "runs_by_session"
WITH_SESSION = sa.text("session_id IS NOT NULL")


def upgrade() -> None:
    """Add the session index."""
    op.create_index(
        INDEX, "runs", ["tenant", "session_id", "submit_seq"],
        postgresql_where=WITH_SESSION, sqlite_where=WITH_SESSION,
    )  # fmt: skip


def downgrade() -> None:
    """Drop the session index."""
    op.drop_index(INDEX, table_name="runs")
