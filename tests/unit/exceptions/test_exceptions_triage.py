"""Triage rules are ordered and deterministic, validated with the bad rule named, and
give every exception a severity and a category."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from exceptions_support import ExceptionFactory

from conveyor_apps.exceptions import (
    CatalogError,
    Category,
    RuleSet,
    Severity,
    TriageRule,
    load_rules,
    parse_rules,
    triage,
)


def _rules(*entries: dict[str, Any]) -> RuleSet:
    return parse_rules(list(entries))


def test_first_matching_rule_sets_each_answer(exception_for: ExceptionFactory) -> None:
    """Severity and category each come from the first matching rule that sets them."""
    rules = _rules(
        {"name": "never", "when": {"source": "wms*"}, "severity": "critical"},
        {"name": "urgent", "when": {"message": "unreachable"}, "severity": "high"},
        {"name": "billing", "when": {"source": ["billing*"]}, "category": "payments"},
        {"name": "late", "when": {}, "severity": "low", "category": "other"},
    )
    result = rules.triage(exception_for())
    assert (result.severity, result.category) == (Severity.HIGH, Category.PAYMENTS)
    assert (result.severity_rule, result.category_rule) == ("urgent", "billing")
    assert result.reason == (
        "severity high from rule 'urgent'; category payments from rule 'billing'"
    )


def test_evaluation_stops_once_both_are_known(exception_for: ExceptionFactory) -> None:
    """Later rules are not consulted once severity and category are both set."""
    rules = _rules(
        {"name": "both", "when": {}, "severity": "low", "category": "data"},
        {"name": "bad", "when": {"message": "(?i)x"}, "severity": "critical"},
    )
    assert rules.triage(exception_for()).severity_rule == "both"


def test_fallbacks_use_hint_then_medium(exception_for: ExceptionFactory) -> None:
    """Without a matching rule: category other, the reporter's hint, else medium."""
    rules = _rules({"name": "nothing", "when": {"source": "x"}, "severity": "low"})
    plain = rules.triage(exception_for())
    hinted = rules.triage(exception_for(severity_hint="critical"))
    assert (plain.category, plain.severity) == (Category.OTHER, Severity.MEDIUM)
    assert hinted.severity is Severity.CRITICAL, hinted
    assert plain.reason == "severity medium by default; category other by default"


@pytest.mark.parametrize(
    ("when", "matches"),
    [
        ({"source": "BILL*"}, True),  # globs are canonicalized like sources
        ({"source": ["wms", "billing"]}, True),
        ({"source": "bill"}, False),
        ({"kind": "*_batch_failed"}, True),
        ({"kind": "batch*"}, False),
        ({"message": "CARD network"}, True),  # case-insensitive search
        ({"message": "^network"}, False),
        ({"message": None}, True),  # an explicit null is no condition
        ({"attributes": {"job_id": "job-42"}}, True),
        ({"attributes": {"job_id": "job-43"}}, False),
        ({"attributes": {"missing": None}}, False),  # absent is not null
        ({"attributes": {"retry": 1}}, False),  # True must not equal 1
        ({"attributes": {"retry": True}}, True),
        ({"source": "billing", "kind": "other"}, False),  # all conditions hold
    ],
)
def test_conditions(
    exception_for: ExceptionFactory, when: dict[str, Any], matches: bool
) -> None:
    """Globs on source and kind, a regex on the message and equal attributes."""
    exception = exception_for(attributes={"job_id": "job-42", "retry": True})
    rule = TriageRule.model_validate({"name": "r", "when": when, "category": "data"})
    assert rule.when.matches(exception) is matches, f"{when} should match: {matches}"


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "bad-regex", "when": {"message": "(unclosed"}}, "when.message"),
        ({"name": "no-answer", "when": {}}, "entry"),
        ({"name": "x", "severity": "dire"}, "severity"),
        ({"name": "x", "category": "weather"}, "category"),
        ({"name": "Bad Name", "category": "data"}, "name"),
        ({"name": "x", "category": "data", "when": {"source": [1]}}, "when.source.0"),
        ({"name": "x", "category": "data", "when": {"colour": "red"}}, "when.colour"),
        ({"name": "x", "category": "data", "when": {"attributes": {"a": []}}}, "when"),
    ],
)
def test_invalid_rule_is_named(entry: dict[str, Any], problem: str) -> None:
    """A bad rule is reported by position, name and field."""
    good = {"name": "good", "category": "data"}
    with pytest.raises(CatalogError) as caught:
        parse_rules([good, entry])
    assert caught.value.entry == f"rule #1 {entry['name']!r}", caught.value.entry
    assert caught.value.problem.startswith(problem), caught.value.problem


def test_regex_error_is_explained() -> None:
    """An uncompilable regular expression says so."""
    with pytest.raises(CatalogError, match="invalid regular expression"):
        parse_rules([{"name": "r", "when": {"message": "[z-a]"}, "severity": "low"}])


def test_duplicate_rule_names_are_refused() -> None:
    """Two rules with one name are refused, naming the second."""
    with pytest.raises(CatalogError, match=r"rule #1 'twice'.*repeats the name"):
        _rules(
            {"name": "twice", "category": "data"},
            {"name": "twice", "severity": "low"},
        )


def test_load_rules_from_file(tmp_path: Path, exception_for: ExceptionFactory) -> None:
    """Rules load from a `{"rules": [...]}` JSON file, in order."""
    path = tmp_path / "rules.json"
    document = {"rules": [{"name": "all", "category": "jobs", "severity": "low"}]}
    path.write_text(json.dumps(document), encoding="utf-8")
    result = load_rules(path).triage(exception_for())
    assert (result.category, result.severity) == (Category.JOBS, Severity.LOW)


def test_triage_is_deterministic(exception_for: ExceptionFactory) -> None:
    """The same exception triages the same way every time."""
    exception = exception_for()
    assert len({triage(exception) for _ in range(5)}) == 1


def test_explicit_rules_replace_the_defaults(exception_for: ExceptionFactory) -> None:
    """Passing a rule set (even an empty one) bypasses the packaged rules."""
    result = triage(exception_for(), RuleSet(()))
    assert result.category is Category.OTHER, result
