"""Tenants: who may report exceptions (API keys, stored only as SHA-256 digests) and
what each allows done about them (its policy: an action per category and severity).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Iterator, Mapping
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from conveyor.settings import hash_key, key_matches

from .data import DATA_DIR, TENANTS_FILE
from .errors import TenantNotFoundError
from .loading import entry_label, read_entries, unique, validate_entries
from .models import Category, Severity, TenantId

KeyDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class PolicyAction(StrEnum):
    """What a tenant allows done about an exception."""

    AUTO_REMEDIATE = "auto_remediate"
    NEEDS_APPROVAL = "needs_approval"
    NOTIFY_ONLY = "notify_only"


class PolicyRule(BaseModel):
    """The action for one category, one severity, or one pair of both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category: Category | None = Field(None, description="None: any category.")
    severity: Severity | None = Field(None, description="None: any severity.")
    action: PolicyAction

    @model_validator(mode="after")
    def _scoped(self) -> PolicyRule:
        if self.category is None and self.severity is None:
            raise ValueError(
                "a rule needs a category or a severity; use default_action for the rest"
            )
        return self

    @property
    def scope(self) -> str:
        """`payments/high`, `payments/*` or `*/high`."""
        return f"{self.category or '*'}/{self.severity or '*'}"

    @property
    def specificity(self) -> int:
        """Both fields beat a category, which beats a severity."""
        return (2 if self.category else 0) + (1 if self.severity else 0)

    def covers(self, category: Category, severity: Severity) -> bool:
        """Whether the rule applies to `category` at `severity`."""
        return self.category in (None, category) and self.severity in (None, severity)


class TenantPolicy(BaseModel):
    """A tenant's actions: the most specific matching rule wins, else the default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    default_action: PolicyAction = PolicyAction.NOTIFY_ONLY
    rules: tuple[PolicyRule, ...] = ()

    @model_validator(mode="after")
    def _no_repeats(self) -> TenantPolicy:
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.scope in seen:
                raise ValueError(f"rules[{index}] repeats the scope {rule.scope}")
            seen.add(rule.scope)
        return self

    def action_for(
        self, category: Category, severity: Severity
    ) -> tuple[PolicyAction, PolicyRule | None]:
        """The action for `category` at `severity`, and the rule that chose it (None
        when the default did)."""
        matching = [rule for rule in self.rules if rule.covers(category, severity)]
        if not matching:
            return self.default_action, None
        best = max(matching, key=lambda rule: rule.specificity)
        return best.action, best


class Tenant(BaseModel):
    """A tenant: its id, display name, API key digests, policy and concurrency."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant_id: TenantId
    name: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    api_key_sha256: tuple[KeyDigest, ...] = Field(
        (), description="SHA-256 hex digests of the tenant's API keys."
    )
    policy: TenantPolicy = TenantPolicy()
    concurrency: int = Field(
        8, ge=1, le=1024, description="Exceptions processed at once (fairness)."
    )

    @classmethod
    def with_keys(
        cls, tenant_id: str, name: str, api_keys: Iterable[str], **fields: Any
    ) -> Tenant:
        """A tenant whose clear `api_keys` are hashed here and never kept."""
        digests = tuple(hash_key(key) for key in api_keys)
        return cls(tenant_id=tenant_id, name=name, api_key_sha256=digests, **fields)

    def accepts(self, api_key: str) -> bool:
        """Whether `api_key` is one of this tenant's (constant time per digest)."""
        matched = False
        for digest in self.api_key_sha256:
            matched |= key_matches(api_key, digest)
        return matched


class TenantDirectory:
    """The known tenants, by id and by API key.

    Raises:
        CatalogError: two tenants share an id or an API key.
    """

    def __init__(self, tenants: Iterable[Tenant]) -> None:
        listed = list(tenants)
        labelled = [(entry_label("tenant", i, t), t) for i, t in enumerate(listed)]
        unique(((label, t.tenant_id) for label, t in labelled), "tenant_id")
        unique(
            ((label, d) for label, t in labelled for d in t.api_key_sha256),
            "API key",
        )
        self._by_id: Mapping[str, Tenant] = {t.tenant_id: t for t in listed}
        self._digests = [(d, t) for t in listed for d in t.api_key_sha256]

    def __iter__(self) -> Iterator[Tenant]:
        return iter(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, tenant_id: object) -> bool:
        return tenant_id in self._by_id

    def get(self, tenant_id: str) -> Tenant:
        """The tenant `tenant_id`.

        Raises:
            TenantNotFoundError: no such tenant.
        """
        try:
            return self._by_id[tenant_id]
        except KeyError:
            raise TenantNotFoundError(tenant_id) from None

    def authenticate(self, api_key: str) -> Tenant | None:
        """The tenant owning `api_key`, or None. Every stored digest is compared in
        constant time, so the answer's timing says nothing about near misses."""
        presented = hash_key(api_key)
        found: Tenant | None = None
        for digest, tenant in self._digests:
            if hmac.compare_digest(presented, digest):
                found = tenant
        return found


def parse_tenants(entries: Iterable[Any]) -> TenantDirectory:
    """Tenants from decoded JSON entries.

    Raises:
        CatalogError: an entry is invalid (named by position and id) or repeats
            another's id or API key.
    """
    return TenantDirectory(validate_entries(Tenant, entries, "tenant"))


def load_tenants(path: Path | None = None) -> TenantDirectory:
    """Tenants from a JSON file `{"tenants": [...]}` (default: the example tenants).

    Raises:
        CatalogError: the file or one of its entries is invalid.
    """
    return parse_tenants(read_entries(path or DATA_DIR / TENANTS_FILE, "tenants"))
