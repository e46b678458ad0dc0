"""Triage: a deterministic, ordered rule engine that gives an exception a severity and
a category.

Rules are read top to bottom. Each of the two answers comes from the first matching
rule that sets it, so a broad rule ("anything from `billing*` is payments") can sit
below narrow ones that also fix the severity. What no rule decides falls back to
category `other` and to the reporter's severity hint, else `medium`.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from .data import DATA_DIR, RULES_FILE
from .loading import entry_label, read_entries, unique, validate_entries
from .models import Category, NormalizedException, Scalar, Severity, canonical_token

RuleName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
]
MAX_PATTERN_CHARS = 512


@functools.lru_cache(maxsize=1024)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


class RuleMatch(BaseModel):
    """The conditions of a rule, all of which must hold; an empty one matches all.

    `source` and `kind` are shell-style globs (`billing*`), any of which may match
    the canonical value; `message` is a case-insensitive regular expression searched
    in the message; `attributes` must all be present with equal values.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: tuple[str, ...] = ()
    kind: tuple[str, ...] = ()
    message: Annotated[str, StringConstraints(max_length=MAX_PATTERN_CHARS)] | None = (
        None
    )
    attributes: dict[str, Scalar] = Field(default_factory=dict)

    @field_validator("source", "kind", mode="before")
    @classmethod
    def _globs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(canonical_token(v) for v in value)
        return value

    @field_validator("message")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _regex(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value

    def matches(self, exception: NormalizedException) -> bool:
        """Whether every condition holds for `exception`."""
        return (
            _any_glob(self.source, exception.source)
            and _any_glob(self.kind, exception.kind)
            and (
                self.message is None
                or _regex(self.message).search(exception.message) is not None
            )
            and all(
                _same(exception.attributes.get(key, _ABSENT), expected)
                for key, expected in self.attributes.items()
            )
        )


_ABSENT = object()


def _any_glob(globs: tuple[str, ...], value: str) -> bool:
    return not globs or any(fnmatch.fnmatchcase(value, glob) for glob in globs)


def _same(actual: object, expected: object) -> bool:
    # True == 1 in Python; an attribute `true` must not match a rule's `1`
    return actual == expected and isinstance(actual, bool) == isinstance(expected, bool)


class TriageRule(BaseModel):
    """One rule: when it matches, it may set the severity, the category or both."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: RuleName
    when: RuleMatch = RuleMatch()
    severity: Severity | None = None
    category: Category | None = None

    @model_validator(mode="after")
    def _decides(self) -> TriageRule:
        if self.severity is None and self.category is None:
            raise ValueError("a rule must set a severity, a category or both")
        return self


class Triage(BaseModel):
    """Triage's answer, with the rules that gave it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity
    category: Category
    severity_rule: str | None = Field(None, description="None: the fallback.")
    category_rule: str | None = Field(None, description="None: the fallback.")

    @property
    def reason(self) -> str:
        """A sentence saying where each answer came from."""
        return (
            f"severity {self.severity} {_origin(self.severity_rule)}; "
            f"category {self.category} {_origin(self.category_rule)}"
        )


def _origin(rule: str | None) -> str:
    return f"from rule {rule!r}" if rule else "by default"


@dataclass(frozen=True, slots=True)
class RuleSet:
    """An ordered, validated list of triage rules.

    Raises:
        CatalogError: two rules share a name.
    """

    rules: tuple[TriageRule, ...]

    def __post_init__(self) -> None:
        unique(
            ((entry_label("rule", i, r), r.name) for i, r in enumerate(self.rules)),
            "name",
        )

    def triage(self, exception: NormalizedException) -> Triage:
        """The severity and category of `exception`."""
        severity: TriageRule | None = None
        category: TriageRule | None = None
        for rule in self.rules:
            if severity and category:
                break
            if not rule.when.matches(exception):
                continue
            if severity is None and rule.severity is not None:
                severity = rule
            if category is None and rule.category is not None:
                category = rule
        return Triage(
            severity=(
                severity.severity
                if severity and severity.severity
                else exception.severity_hint or Severity.MEDIUM
            ),
            category=(
                category.category if category and category.category else Category.OTHER
            ),
            severity_rule=severity.name if severity else None,
            category_rule=category.name if category else None,
        )


def parse_rules(entries: Iterable[Mapping[str, Any] | Any]) -> RuleSet:
    """A rule set from decoded JSON entries (dicts), in order.

    Raises:
        CatalogError: a rule is invalid; the message names it and its bad field.
    """
    return RuleSet(tuple(validate_entries(TriageRule, entries, "rule")))


def load_rules(path: Path) -> RuleSet:
    """A rule set from a JSON file `{"rules": [...]}`.

    Raises:
        CatalogError: the file or one of its rules is invalid.
    """
    return parse_rules(read_entries(path, "rules"))


@functools.cache
def default_rules() -> RuleSet:
    """The packaged default rules (`data/triage_rules.json`), read once."""
    return load_rules(DATA_DIR / RULES_FILE)


def triage(exception: NormalizedException, rules: RuleSet | None = None) -> Triage:
    """Triage `exception` with `rules` (default: the packaged rules)."""
    return (default_rules() if rules is None else rules).triage(exception)
