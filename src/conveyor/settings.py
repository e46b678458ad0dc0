"""Configuration: every bound and URL in one place, read from `CONVEYOR_*` variables.

Switching from embedded to distributed mode is a change of URLs here, never of code.
"""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


class Settings(BaseSettings):
    """Engine and server settings (environment prefix `CONVEYOR_`)."""

    model_config = SettingsConfigDict(env_prefix="CONVEYOR_", extra="ignore")

    store_url: str = "sqlite:///conveyor.db"
    bus_url: str = "memory://"
    worker_id: str | None = None

    lease_ttl_s: float = Field(30.0, gt=0)
    heartbeat_s: float = Field(10.0, gt=0)
    max_recoveries: int = Field(3, ge=0)
    cancel_grace_s: float = Field(5.0, ge=0)
    tenant_concurrency: int | None = Field(None, ge=1)
    tenant_submit_rate: float | None = Field(None, gt=0)
    """New runs a tenant may submit through the API per second, per API process
    (None: no limit); a submission over it is held until its turn."""
    tenant_submit_burst: int | None = Field(None, ge=1)
    """Submissions a tenant may make at once under `tenant_submit_rate` (default:
    one second's worth)."""
    tenant_submit_wait_s: float = Field(10.0, ge=0)
    """How long a submission over the rate may be held for its turn; one whose
    turn is further away is refused with 429 and `Retry-After`."""
    worker_concurrency: int = Field(100, ge=1)
    """Runs a distributed worker executes at once (not counting runs waiting on
    a timer, a signal or a child); the rest wait on it and are admitted tenant by
    tenant in turn. Smaller keeps a quiet tenant's runs quicker under a flood."""

    max_body_bytes: int = Field(1 * MIB, ge=1024)
    max_step_bytes: int = Field(1 * MIB, ge=1024)
    max_ws_queue: int = Field(1000, ge=1)

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_keys: SecretStr = SecretStr("")
    admin_key: SecretStr = SecretStr("")
    allowed_origins: str = ""

    @model_validator(mode="after")
    def _check_heartbeat(self) -> Settings:
        if self.heartbeat_s >= self.lease_ttl_s:
            raise ValueError("heartbeat_s must be shorter than lease_ttl_s")
        return self

    @field_validator("api_keys")
    @classmethod
    def _check_keys(cls, value: SecretStr) -> SecretStr:
        for item in _pairs(value.get_secret_value()):
            if ":" not in item or not all(part.strip() for part in item.split(":", 1)):
                raise ValueError("api_keys must look like 'tenant:key,tenant2:key2'")
        return value

    def tenant_keys(self) -> dict[str, str]:
        """SHA-256 digest of each API key → tenant (keys are never kept in clear)."""
        keys: dict[str, str] = {}
        for item in _pairs(self.api_keys.get_secret_value()):
            tenant, key = (part.strip() for part in item.split(":", 1))
            keys[hash_key(key)] = tenant
        return keys


def _pairs(text: str) -> list[str]:
    return [item for item in (part.strip() for part in text.split(",")) if item]


def hash_key(key: str) -> str:
    """The stored form of an API key."""
    return hashlib.sha256(key.encode()).hexdigest()


def key_matches(key: str, digest: str) -> bool:
    """Constant-time comparison of a presented key with a stored digest."""
    return hmac.compare_digest(hash_key(key), digest)
