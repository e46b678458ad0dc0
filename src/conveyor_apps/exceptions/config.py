"""Settings of the exception platform (environment prefix `EXCEPTIONS_`): where its
tables live, which tenants exist, report limits and the tools' retry policy."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from conveyor.policies import RetryPolicy

from .models import MAX_REPORT_BYTES


class ExceptionsSettings(BaseSettings):
    """How the platform runs; every field has an `EXCEPTIONS_<FIELD>` variable."""

    model_config = SettingsConfigDict(env_prefix="EXCEPTIONS_", extra="ignore")

    database_url: str = Field(
        "",
        description="Where the platform's tables live. Empty: the engine's "
        "PostgreSQL database, or `<store>-exceptions.db` beside a SQLite store.",
    )
    tenants_file: Path | None = Field(
        None, description="Tenants JSON (default: the packaged example tenants)."
    )
    pool_size: int = Field(
        5,
        ge=1,
        le=100,
        description="PostgreSQL connections per process (a fixed pool: units of "
        "work wait for one rather than open more).",
    )
    statement_cache: bool = Field(
        True,
        description="Cache prepared statements per PostgreSQL connection; "
        "turn off behind a transaction-mode pooler (PgBouncer).",
    )
    tenant_lanes: int = Field(
        0,
        ge=0,
        le=1024,
        description="Fairness: each tenant's events pass each "
        "stage in at most this many lanes at once (0: no bound, one lane per "
        "exception).",
    )
    max_report_bytes: int = Field(MAX_REPORT_BYTES, ge=1024)
    tool_attempts: int = Field(5, ge=1, le=20)
    tool_backoff_s: float = Field(0.2, ge=0)
    tool_max_backoff_s: float = Field(5.0, ge=0)
    metrics_refresh_s: float = Field(5.0, gt=0)

    def tool_retry(self) -> RetryPolicy:
        """The retry policy of tool calls: transient errors are retried with
        backoff, permanent ones (`retryable = False`) are not."""
        return RetryPolicy(
            max_attempts=self.tool_attempts,
            initial_backoff_s=self.tool_backoff_s,
            max_backoff_s=max(self.tool_backoff_s, self.tool_max_backoff_s),
        )

    def database_for(self, store_url: str) -> str:
        """The platform's database URL for an engine on `store_url`."""
        if self.database_url:
            return self.database_url
        prefix = "sqlite:///"
        if store_url.startswith(prefix):
            # a file of its own: SQLite has one writer, and the engine's must not
            # wait for ours
            path = Path(store_url[len(prefix) :].split("?", 1)[0])
            sibling = path.with_name(f"{path.stem}-exceptions{path.suffix or '.db'}")
            return prefix + str(sibling)
        return store_url
