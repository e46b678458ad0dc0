"""The package's public surface is pinned so it cannot drift silently."""

from __future__ import annotations

import conveyor_apps.exceptions as exceptions


def test_all_is_sorted_and_exact() -> None:
    """`__all__` is sorted and lists exactly the documented names."""
    expected = {
        "CatalogError", "Category", "ExceptionReport", "ExceptionStatus",
        "ExceptionsError", "HttpTool", "NormalizedException", "PermanentToolError",
        "Playbook", "PlaybookCatalog", "PlaybookSelection", "PlaybookStep",
        "PolicyAction", "PolicyDecision", "PolicyRule", "ReportInvalidError",
        "RuleMatch", "RuleSet", "Severity", "StatusTransitionError", "Tenant",
        "TenantDirectory", "TenantMismatchError", "TenantNotFoundError",
        "TenantPolicy", "ToolError", "ToolName", "ToolRequest", "ToolResult",
        "ToolSettings", "Toolbox", "TransientToolError", "Triage", "TriageRule",
        "can_transition", "check_transition", "decide", "default_playbooks",
        "default_rules", "load_playbooks", "load_rules", "load_tenants", "normalize",
        "parse_playbooks", "parse_report", "parse_rules", "parse_tenants",
        "select_playbook", "triage",
    }  # fmt: skip
    assert exceptions.__all__ == sorted(exceptions.__all__), "__all__ must be sorted"
    assert set(exceptions.__all__) == expected, (
        f"expected {sorted(expected)}, got {exceptions.__all__}"
    )


def test_every_exported_name_resolves() -> None:
    """Each name in `__all__` is an attribute of the package."""
    missing = [n for n in exceptions.__all__ if not hasattr(exceptions, n)]
    assert missing == [], f"missing {missing}"
