"""Policy: what the tenant allows done about a triaged exception — remediate it
automatically, ask a person first, or only tell the team — and why."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .errors import TenantMismatchError
from .models import NormalizedException
from .tenants import PolicyAction, Tenant
from .triage import Triage


class PolicyDecision(BaseModel):
    """The action for one exception, the tenant rule that chose it and a reason."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: str
    action: PolicyAction
    rule: str | None = None
    reason: str


def decide(
    exception: NormalizedException, triage: Triage, tenant: Tenant
) -> PolicyDecision:
    """Apply `tenant`'s policy to `exception` as triaged.

    Raises:
        TenantMismatchError: `exception` belongs to another tenant; a tenant's
            policy never applies to someone else's events.
    """
    if exception.tenant != tenant.tenant_id:
        raise TenantMismatchError(tenant.tenant_id, exception.tenant)
    action, rule = tenant.policy.action_for(triage.category, triage.severity)
    subject = f"{triage.category}/{triage.severity}"
    if rule is None:
        reason = f"{subject}: no rule of tenant {tenant.tenant_id!r} covers it"
        reason += f", so its default {action} applies"
    else:
        reason = (
            f"{subject}: tenant {tenant.tenant_id!r} rule {rule.scope} says {action}"
        )
    return PolicyDecision(
        tenant=tenant.tenant_id,
        action=action,
        rule=None if rule is None else rule.scope,
        reason=reason,
    )
