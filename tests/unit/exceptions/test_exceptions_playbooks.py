"""Playbooks are data: validated with the bad one named, selected with fallbacks, and
cut down to what the tenant's decision allows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conveyor_apps.exceptions import (
    CatalogError,
    Category,
    ExceptionStatus,
    PlaybookCatalog,
    PolicyAction,
    PolicyDecision,
    Severity,
    ToolName,
    Triage,
    load_playbooks,
    parse_playbooks,
    select_playbook,
)
from conveyor_apps.exceptions.playbooks import APPROVAL_REQUEST, PLAIN_NOTICE

T = ToolName


def _entry(name: str, tools: list[str], **scope: str) -> dict[str, Any]:
    return {"name": name, **scope, "steps": [{"tool": tool} for tool in tools]}


CATALOG = parse_playbooks(
    [
        _entry(
            "pay-high", ["retry_job", "notify"], category="payments", severity="high"
        ),
        _entry("pay", ["open_ticket"], category="payments"),
        _entry("critical", ["quarantine", "notify"], severity="critical"),
        _entry("fallback", ["notify"]),
    ]
)


def _decision(action: PolicyAction) -> PolicyDecision:
    return PolicyDecision(tenant="acme", action=action, reason="test")


def _triage(category: Category, severity: Severity) -> Triage:
    return Triage(category=category, severity=severity)


@pytest.mark.parametrize(
    ("category", "severity", "name"),
    [
        (Category.PAYMENTS, Severity.HIGH, "pay-high"),  # exact
        (Category.PAYMENTS, Severity.CRITICAL, "pay"),  # category beats severity
        (Category.DATA, Severity.CRITICAL, "critical"),  # severity
        (Category.DATA, Severity.LOW, "fallback"),  # catch-all
    ],
)
def test_selection_falls_back(
    category: Category, severity: Severity, name: str
) -> None:
    """Exact scope, then category/*, then */severity, then */*."""
    assert CATALOG.find(category, severity).name == name


def test_auto_remediate_runs_the_whole_playbook() -> None:
    """Auto-remediation runs every step in order and ends resolved."""
    got = select_playbook(
        _triage(Category.PAYMENTS, Severity.HIGH),
        _decision(PolicyAction.AUTO_REMEDIATE),
        CATALOG,
    )
    assert [s.tool for s in got.steps] == [T.RETRY_JOB, T.NOTIFY], got.steps
    assert (got.playbook, got.scope, got.deferred) == ("pay-high", "payments/high", ())
    assert got.outcome is ExceptionStatus.RESOLVED


def test_needs_approval_asks_and_defers() -> None:
    """Approval-needing exceptions only ask; the playbook waits until approved."""
    got = select_playbook(
        _triage(Category.PAYMENTS, Severity.HIGH),
        _decision(PolicyAction.NEEDS_APPROVAL),
        CATALOG,
    )
    assert got.steps == (APPROVAL_REQUEST,), got.steps
    assert [s.tool for s in got.deferred] == [T.RETRY_JOB, T.NOTIFY]
    assert got.outcome is ExceptionStatus.NEEDS_APPROVAL
    approved = got.approved()
    assert [s.tool for s in approved.steps] == [T.RETRY_JOB, T.NOTIFY]
    assert (approved.deferred, approved.outcome) == ((), ExceptionStatus.RESOLVED)


def test_only_approval_selections_can_be_approved() -> None:
    """Approving a selection that waits for nothing is a mistake."""
    got = select_playbook(
        _triage(Category.DATA, Severity.LOW),
        _decision(PolicyAction.AUTO_REMEDIATE),
        CATALOG,
    )
    with pytest.raises(ValueError, match="waits for no approval"):
        got.approved()


def test_notify_only_keeps_notify_steps_or_adds_one() -> None:
    """Notify-only runs the playbook's notify steps, or a plain notice if none."""
    with_notify = select_playbook(
        _triage(Category.DATA, Severity.CRITICAL),
        _decision(PolicyAction.NOTIFY_ONLY),
        CATALOG,
    )
    without = select_playbook(
        _triage(Category.PAYMENTS, Severity.LOW),
        _decision(PolicyAction.NOTIFY_ONLY),
        CATALOG,
    )
    assert [s.tool for s in with_notify.steps] == [T.NOTIFY]
    assert without.steps == (PLAIN_NOTICE,), without.steps
    assert with_notify.outcome is without.outcome is ExceptionStatus.NOTIFIED


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "x", "steps": []}, "steps"),
        ({"name": "x", "steps": [{"tool": "reboot_world"}]}, "steps.0.tool"),
        ({"name": "x", "severity": "dire", "steps": [{"tool": "notify"}]}, "severity"),
        ({"name": "x", "steps": [{"tool": "notify", "params": {"a": {}}}]}, "steps.0"),
        ({"steps": [{"tool": "notify"}]}, "name"),
    ],
)
def test_invalid_playbook_is_named(entry: dict[str, Any], problem: str) -> None:
    """A bad playbook is reported by position, name and field."""
    with pytest.raises(CatalogError) as caught:
        parse_playbooks([_entry("fallback", ["notify"]), entry])
    assert caught.value.entry.startswith("playbook #1"), caught.value.entry
    assert caught.value.problem.startswith(problem), caught.value.problem


def test_catalog_needs_unique_names_scopes_and_a_catch_all() -> None:
    """Names and scopes are unique, and a */* playbook must exist."""
    fallback = _entry("fallback", ["notify"])
    with pytest.raises(CatalogError, match=r"playbook #1 'fallback'.*name"):
        parse_playbooks([fallback, _entry("fallback", ["notify"], severity="low")])
    with pytest.raises(CatalogError, match=r"playbook #1 'again'.*scope"):
        parse_playbooks([fallback, _entry("again", ["notify"])])
    with pytest.raises(CatalogError, match=r"catch-all"):
        parse_playbooks([_entry("only", ["notify"], category="data")])


def test_load_playbooks_from_file(tmp_path: Path) -> None:
    """Playbooks load from a `{"playbooks": [...]}` JSON file."""
    path = tmp_path / "playbooks.json"
    path.write_text(
        json.dumps({"playbooks": [_entry("fallback", ["notify"])]}), encoding="utf-8"
    )
    catalog = load_playbooks(path)
    assert isinstance(catalog, PlaybookCatalog)
    assert catalog.find(Category.JOBS, Severity.LOW).scope == "*/*"
