"""Alembic migrations of the SQL stores, for SQLite and PostgreSQL alike, and the
functions behind `conveyor migrate`: `upgrade`, `downgrade` and `current`.

Stores migrate themselves on open (under a lock on PostgreSQL); the command is for
deployments that migrate ahead of starting new code.
"""

from __future__ import annotations

from .runner import (
    asyncpg_dsn as asyncpg_dsn,
)
from .runner import (
    current as current,
)
from .runner import (
    downgrade as downgrade,
)
from .runner import (
    head as head,
)
from .runner import (
    sqlalchemy_url as sqlalchemy_url,
)
from .runner import (
    upgrade as upgrade,
)
from .runner import (
    upgrade_connection as upgrade_connection,
)

__all__ = [
    "asyncpg_dsn",
    "current",
    "downgrade",
    "head",
    "sqlalchemy_url",
    "upgrade",
    "upgrade_connection",
]
