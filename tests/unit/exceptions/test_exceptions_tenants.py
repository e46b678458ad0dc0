"""Tenants keep only hashed API keys, authenticate in constant time per digest, and
resolve their policy from the most specific rule."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor.settings import hash_key
from conveyor_apps.exceptions import (
    CatalogError,
    Category,
    PolicyAction,
    PolicyRule,
    Severity,
    Tenant,
    TenantDirectory,
    TenantNotFoundError,
    TenantPolicy,
    load_tenants,
    parse_tenants,
)

A = PolicyAction


def _tenant_entry(**fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "tenant_id": "acme",
        "name": "Acme",
        "api_key_sha256": [hash_key("secret-1")],
    }
    entry.update(fields)
    return entry


def test_with_keys_stores_only_digests() -> None:
    """Clear keys are hashed with SHA-256 and never kept on the tenant."""
    tenant = Tenant.with_keys("acme", "Acme", ["secret-1", "secret-2"])
    assert tenant.api_key_sha256 == (hash_key("secret-1"), hash_key("secret-2"))
    assert "secret-1" not in tenant.model_dump_json(), "a clear key leaked"
    assert tenant.accepts("secret-2") and not tenant.accepts("secret-3")


def test_directory_authenticates_and_looks_up() -> None:
    """A key maps to its tenant; an unknown key to None; ids look tenants up."""
    acme = Tenant.with_keys("acme", "Acme", ["a-key"])
    globex = Tenant.with_keys("globex", "Globex", ["g-key", "g-key-2"])
    directory = TenantDirectory([acme, globex])
    assert directory.authenticate("g-key-2") is globex
    assert directory.authenticate("a-key") is acme
    assert directory.authenticate("nope") is None
    assert directory.authenticate("") is None
    assert directory.get("acme") is acme
    assert len(directory) == 2 and "globex" in directory and "initech" not in directory
    assert [t.tenant_id for t in directory] == ["acme", "globex"]


def test_unknown_tenant_raises_not_found() -> None:
    """Looking up a missing tenant raises TenantNotFoundError (a 404)."""
    with pytest.raises(TenantNotFoundError, match="'initech'"):
        TenantDirectory([]).get("initech")


def test_directory_refuses_shared_ids_and_keys() -> None:
    """Two tenants may share neither an id nor an API key."""
    with pytest.raises(CatalogError, match=r"tenant #1 'acme'.*tenant_id"):
        TenantDirectory(
            [Tenant.with_keys("acme", "A", ["k1"]), Tenant.with_keys("acme", "B", [])]
        )
    with pytest.raises(CatalogError, match=r"tenant #1 'globex'.*API key"):
        TenantDirectory(
            [
                Tenant.with_keys("acme", "A", ["k"]),
                Tenant.with_keys("globex", "G", ["k"]),
            ]
        )


@pytest.mark.parametrize(
    ("override", "problem"),
    [
        ({"tenant_id": "Has Spaces"}, "tenant_id"),
        ({"name": ""}, "name"),
        ({"api_key_sha256": ["plain-text-key"]}, "api_key_sha256.0"),
        ({"concurrency": 0}, "concurrency"),
        ({"policy": {"default_action": "ignore"}}, "policy.default_action"),
        ({"policy": {"rules": [{"action": "notify_only"}]}}, "policy.rules.0"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_invalid_tenant_is_named_with_its_field(
    override: dict[str, Any], problem: str
) -> None:
    """A bad tenant entry is reported by position, id and field."""
    with pytest.raises(CatalogError) as caught:
        parse_tenants([_tenant_entry(tenant_id="ok"), _tenant_entry(**override)])
    assert caught.value.entry.startswith("tenant #1"), caught.value.entry
    assert caught.value.problem.startswith(problem + ":"), caught.value.problem


def test_policy_refuses_repeated_scopes() -> None:
    """Two policy rules for the same scope are refused, naming the second."""
    rules = [
        {"category": "payments", "action": "auto_remediate"},
        {"category": "payments", "action": "notify_only"},
    ]
    with pytest.raises(CatalogError, match=r"rules\[1\] repeats the scope payments/\*"):
        parse_tenants([_tenant_entry(policy={"rules": rules})])


def test_most_specific_rule_wins() -> None:
    """category+severity beats category, which beats severity, which beats default."""
    policy = TenantPolicy(
        default_action=A.NOTIFY_ONLY,
        rules=(
            PolicyRule(severity=Severity.CRITICAL, action=A.NEEDS_APPROVAL),
            PolicyRule(category=Category.PAYMENTS, action=A.AUTO_REMEDIATE),
            PolicyRule(
                category=Category.PAYMENTS,
                severity=Severity.LOW,
                action=A.NOTIFY_ONLY,
            ),
        ),
    )
    cases = {
        (Category.PAYMENTS, Severity.LOW): (A.NOTIFY_ONLY, "payments/low"),
        (Category.PAYMENTS, Severity.CRITICAL): (A.AUTO_REMEDIATE, "payments/*"),
        (Category.DATA, Severity.CRITICAL): (A.NEEDS_APPROVAL, "*/critical"),
        (Category.DATA, Severity.HIGH): (A.NOTIFY_ONLY, None),
    }
    for (category, severity), (action, scope) in cases.items():
        got, rule = policy.action_for(category, severity)
        got_scope = rule.scope if rule else None
        assert (got, got_scope) == (action, scope), (
            f"{category}/{severity}: expected {action} via {scope}, "
            f"got {got} via {got_scope}"
        )


def test_default_policy_only_notifies() -> None:
    """A tenant without a policy is only notified (the safe default)."""
    action, rule = Tenant(tenant_id="new", name="New").policy.action_for(
        Category.SECURITY, Severity.CRITICAL
    )
    assert (action, rule) == (A.NOTIFY_ONLY, None)


def test_load_tenants_from_file(tmp_path: Path) -> None:
    """Tenants load from a `{"tenants": [...]}` JSON file."""
    path = tmp_path / "tenants.json"
    path.write_text(json.dumps({"tenants": [_tenant_entry()]}), encoding="utf-8")
    directory = load_tenants(path)
    assert directory.authenticate("secret-1") is directory.get("acme")
