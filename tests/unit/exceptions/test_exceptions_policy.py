"""A tenant's policy turns a triaged exception into an action with a reason, and
never applies to another tenant's exception."""

from __future__ import annotations

import pytest
from exceptions_support import ExceptionFactory

from conveyor_apps.exceptions import (
    Category,
    PolicyAction,
    PolicyRule,
    Severity,
    Tenant,
    TenantMismatchError,
    TenantPolicy,
    Triage,
    decide,
)

ACME = Tenant(
    tenant_id="acme",
    name="Acme",
    policy=TenantPolicy(
        default_action=PolicyAction.AUTO_REMEDIATE,
        rules=(
            PolicyRule(category=Category.SECURITY, action=PolicyAction.NEEDS_APPROVAL),
        ),
    ),
)


def _triaged(category: Category, severity: Severity = Severity.HIGH) -> Triage:
    return Triage(severity=severity, category=category)


def test_rule_decides_with_reason(exception_for: ExceptionFactory) -> None:
    """A matching tenant rule decides, and the reason names tenant and rule."""
    decision = decide(exception_for(), _triaged(Category.SECURITY), ACME)
    assert decision.action is PolicyAction.NEEDS_APPROVAL, decision
    assert decision.rule == "security/*", decision.rule
    assert decision.tenant == "acme"
    assert decision.reason == (
        "security/high: tenant 'acme' rule security/* says needs_approval"
    )


def test_default_decides_otherwise(exception_for: ExceptionFactory) -> None:
    """Without a matching rule the tenant's default decides, and says so."""
    decision = decide(exception_for(), _triaged(Category.PAYMENTS), ACME)
    assert (decision.action, decision.rule) == (PolicyAction.AUTO_REMEDIATE, None)
    assert "default auto_remediate" in decision.reason, decision.reason


def test_foreign_exception_is_refused(exception_for: ExceptionFactory) -> None:
    """A tenant's policy refuses another tenant's exception."""
    with pytest.raises(TenantMismatchError) as caught:
        decide(exception_for(tenant="globex"), _triaged(Category.DATA), ACME)
    assert (caught.value.policy_tenant, caught.value.exception_tenant) == (
        "acme",
        "globex",
    )


def test_same_triage_different_tenants_differ(exception_for: ExceptionFactory) -> None:
    """Policies are per tenant: the same triage gets each tenant's own action."""
    careful = Tenant(tenant_id="globex", name="Globex")
    triaged = _triaged(Category.PAYMENTS)
    acme = decide(exception_for(tenant="acme"), triaged, ACME)
    globex = decide(exception_for(tenant="globex"), triaged, careful)
    assert (acme.action, globex.action) == (
        PolicyAction.AUTO_REMEDIATE,
        PolicyAction.NOTIFY_ONLY,
    )
