"""The packaged rules, playbooks and example tenants load, and together take typical
exceptions through triage, policy and playbook selection as documented."""

from __future__ import annotations

from typing import Any

import pytest
from exceptions_support import ExceptionFactory

from conveyor_apps.exceptions import (
    Category,
    ExceptionStatus,
    PolicyAction,
    Severity,
    ToolName,
    decide,
    default_playbooks,
    default_rules,
    load_tenants,
    select_playbook,
    triage,
)

C, V, T = Category, Severity, ToolName


@pytest.mark.parametrize(
    ("report", "category", "severity"),
    [
        ({}, C.PAYMENTS, V.HIGH),
        ({"kind": "payout_failed"}, C.PAYMENTS, V.CRITICAL),
        ({"kind": "refund_delayed", "message": "PSP timed out"}, C.PAYMENTS, V.LOW),
        ({"kind": "refund_delayed"}, C.PAYMENTS, V.MEDIUM),
        (
            {"source": "wms-eu", "kind": "pallet_alert", "message": "hazmat leak"},
            C.LOGISTICS,
            V.CRITICAL,
        ),
        ({"source": "carrier-api", "kind": "shipment_stuck"}, C.LOGISTICS, V.HIGH),
        (
            {
                "source": "airflow",
                "kind": "job_crashed",
                "attributes": {"environment": "production"},
            },
            C.JOBS,
            V.HIGH,
        ),
        ({"source": "airflow", "kind": "job_crashed"}, C.JOBS, V.MEDIUM),
        (
            {"source": "dbt", "kind": "model_failed", "message": "checksum mismatch"},
            C.DATA,
            V.CRITICAL,
        ),
        ({"source": "dbt", "kind": "schema_drift"}, C.DATA, V.MEDIUM),
        (
            {"source": "billing", "kind": "x", "message": "credentials leaked in log"},
            C.SECURITY,
            V.CRITICAL,
        ),
        ({"source": "iam", "kind": "mfa_disabled"}, C.SECURITY, V.HIGH),
        (
            {"source": "crm", "kind": "sync_lag", "message": "lagging"},
            C.OTHER,
            V.MEDIUM,
        ),
    ],
)
def test_default_rules_classify_typical_exceptions(
    exception_for: ExceptionFactory,
    report: dict[str, Any],
    category: Category,
    severity: Severity,
) -> None:
    """Typical exceptions of each area get the documented category and severity."""
    got = triage(exception_for(**report))
    assert (got.category, got.severity) == (category, severity), got.reason


def test_default_playbooks_cover_every_category() -> None:
    """Every category has a playbook of its own except `other` (the fallback)."""
    catalog = default_playbooks()
    for category in Category:
        found = catalog.find(category, Severity.MEDIUM)
        expected = "fallback" if category is Category.OTHER else category.value
        assert found.name == expected, f"{category}: got {found.name}"


@pytest.mark.parametrize(
    ("category", "severity", "tools"),
    [
        (C.PAYMENTS, V.HIGH, [T.RETRY_JOB, T.NOTIFY]),
        (C.LOGISTICS, V.CRITICAL, [T.QUARANTINE, T.OPEN_TICKET, T.NOTIFY]),
        (C.OTHER, V.CRITICAL, [T.OPEN_TICKET, T.NOTIFY]),
        (C.OTHER, V.LOW, [T.NOTIFY]),
    ],
)
def test_default_playbook_steps(
    category: Category, severity: Severity, tools: list[ToolName]
) -> None:
    """The packaged playbooks run the documented tools in order."""
    steps = default_playbooks().find(category, severity).steps
    assert [s.tool for s in steps] == tools


def test_default_rules_are_ordered_and_named() -> None:
    """The packaged rules load, in file order, under unique names."""
    names = [rule.name for rule in default_rules().rules]
    assert names[0] == "security-intrusion" and len(names) == len(set(names))


def test_example_tenants_and_demo_keys() -> None:
    """The three example tenants load and their documented demo keys work."""
    tenants = load_tenants()
    assert [t.tenant_id for t in tenants] == ["acme", "globex", "initech"]
    for tenant in tenants:
        assert tenants.authenticate(f"{tenant.tenant_id}-demo-key") is tenant


@pytest.mark.parametrize(
    ("tenant", "report", "action", "outcome", "tools"),
    [
        (
            "acme",
            {},
            PolicyAction.AUTO_REMEDIATE,
            ExceptionStatus.RESOLVED,
            [T.RETRY_JOB, T.NOTIFY],
        ),
        (
            "acme",
            {"kind": "payout_failed"},
            PolicyAction.NEEDS_APPROVAL,
            ExceptionStatus.NEEDS_APPROVAL,
            [T.NOTIFY],
        ),
        (
            "globex",
            {},
            PolicyAction.NOTIFY_ONLY,
            ExceptionStatus.NOTIFIED,
            [T.NOTIFY],
        ),
        (
            "globex",
            {"source": "carrier-api", "kind": "shipment_stuck"},
            PolicyAction.AUTO_REMEDIATE,
            ExceptionStatus.RESOLVED,
            [T.OPEN_TICKET, T.NOTIFY],
        ),
        (
            "initech",
            {"source": "dbt", "kind": "schema_drift"},
            PolicyAction.AUTO_REMEDIATE,
            ExceptionStatus.RESOLVED,
            [T.OPEN_TICKET, T.NOTIFY],
        ),
        (
            "initech",
            {"kind": "refund_delayed", "message": "timed out"},
            PolicyAction.NOTIFY_ONLY,
            ExceptionStatus.NOTIFIED,
            [T.NOTIFY],
        ),
    ],
)
def test_example_tenants_end_to_end(
    exception_for: ExceptionFactory,
    tenant: str,
    report: dict[str, Any],
    action: PolicyAction,
    outcome: ExceptionStatus,
    tools: list[ToolName],
) -> None:
    """Intake, triage, policy and playbook agree for each example tenant."""
    exception = exception_for(tenant=tenant, **report)
    triaged = triage(exception)
    decision = decide(exception, triaged, load_tenants().get(tenant))
    selection = select_playbook(triaged, decision)
    assert decision.action is action, decision.reason
    assert selection.outcome is outcome, selection
    assert [s.tool for s in selection.steps] == tools, selection.steps
