"""Runs holding a lease, indexed by tenant (PostgreSQL only).

A claim under a tenant concurrency limit counts the tenant's live leases; without
this index it walks every run the tenant ever had. Embedded mode counts its
tenants' runs in memory, so SQLite gets nothing (the revision is a no-op there).

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "runs_leased_by_tenant"


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    """Index the leased runs by tenant: finished runs give their owner up, so the
    index holds little more than the leases alive now."""
    if _postgresql():
        op.create_index(
            INDEX, "runs", ["tenant"], postgresql_where=sa.text("owner IS NOT NULL")
        )


def downgrade() -> None:
    """Drop the index of leased runs."""
    if _postgresql():
        op.drop_index(INDEX, table_name="runs")
