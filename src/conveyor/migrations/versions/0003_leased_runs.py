"""Claims under a tenant limit in one statement (PostgreSQL only): runs holding a
lease indexed by tenant, and a function that locks a tenant's claims and counts
its live leases.

Without the index, the count walks every unfinished run. Without the function, a
claim needs a transaction of its own (lock, then count and claim in a second
statement, whose snapshot sees the previous holders' claims), and the tenant's
lock is held across three round trips; a function called by the claim takes the
lock and counts with a fresh snapshot of its own, so the lock lasts as long as
the one statement. Embedded mode counts its tenants' runs in memory, so SQLite
gets nothing (the revision is a no-op there).

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
HELD = """
CREATE OR REPLACE FUNCTION conveyor_tenant_held(p_tenant text, p_now float8,
    p_run text) RETURNS bigint LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Until the calling transaction ends, no other claim of this tenant counts;
    -- being VOLATILE, the count below sees every claim committed before.
    PERFORM pg_advisory_xact_lock(hashtext(p_tenant));
    RETURN (SELECT count(*) FROM runs WHERE tenant = p_tenant
        AND owner IS NOT NULL AND status IN ('pending', 'running', 'retrying')
        AND lease_expires_at >= p_now AND id <> p_run);
END
$$
"""


def _postgresql() -> bool:
    return bool(op.get_bind().dialect.name == "postgresql")


def upgrade() -> None:
    """Index the leased runs by tenant (finished runs give their owner up, so it
    holds little more than the live leases) and add the counting function."""
    if _postgresql():
        op.create_index(
            INDEX, "runs", ["tenant"], postgresql_where=sa.text("owner IS NOT NULL")
        )
        op.execute(HELD)


def downgrade() -> None:
    """Drop the function and the index."""
    if _postgresql():
        op.execute("DROP FUNCTION IF EXISTS conveyor_tenant_held(text, float8, text)")
        op.drop_index(INDEX, table_name="runs")
