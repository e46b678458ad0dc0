"""Playbooks: the ordered tool steps to run for a category and severity, as data, and
the selection that turns a playbook and a policy decision into the steps to run now.

Selection falls back from the exact `category/severity` to `category/*`, then to
`*/severity`, then to the catch-all `*/*` that every catalog must have.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from .data import DATA_DIR, PLAYBOOKS_FILE
from .errors import CatalogError
from .loading import entry_label, read_entries, unique, validate_entries
from .models import Category, Scalar, Severity
from .policy import PolicyDecision
from .status import ExceptionStatus
from .tenants import PolicyAction
from .triage import Triage


class ToolName(StrEnum):
    """The tools a playbook step may run."""

    NOTIFY = "notify"
    RETRY_JOB = "retry_job"
    OPEN_TICKET = "open_ticket"
    QUARANTINE = "quarantine"


class PlaybookStep(BaseModel):
    """One tool call with its fixed parameters."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: ToolName
    params: dict[str, Scalar] = Field(default_factory=dict)


class Playbook(BaseModel):
    """The steps for a category and a severity (None: any)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"
        ),
    ]
    category: Category | None = None
    severity: Severity | None = None
    steps: tuple[PlaybookStep, ...] = Field(min_length=1, max_length=16)

    @property
    def scope(self) -> str:
        """`logistics/critical`, `jobs/*`, `*/*`."""
        return f"{self.category or '*'}/{self.severity or '*'}"


APPROVAL_REQUEST = PlaybookStep(
    tool=ToolName.NOTIFY, params={"template": "approval_request"}
)
"""What runs while remediation waits for a person: they are asked to approve it."""

PLAIN_NOTICE = PlaybookStep(tool=ToolName.NOTIFY, params={"template": "notice"})
"""What a notify-only exception gets when its playbook has no notify step."""


class PlaybookSelection(BaseModel):
    """The steps to run now, those deferred until approval, and the status the
    exception reaches once the steps to run now have succeeded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    playbook: str
    scope: str
    action: PolicyAction
    steps: tuple[PlaybookStep, ...]
    deferred: tuple[PlaybookStep, ...] = ()
    outcome: ExceptionStatus

    def approved(self) -> PlaybookSelection:
        """The selection once a person approved: the deferred steps, to resolution.

        Raises:
            ValueError: nothing is waiting for approval.
        """
        if self.action is not PolicyAction.NEEDS_APPROVAL:
            raise ValueError(f"a {self.action} selection waits for no approval")
        return self.model_copy(
            update={
                "steps": self.deferred,
                "deferred": (),
                "outcome": ExceptionStatus.RESOLVED,
            }
        )


@dataclass(frozen=True, slots=True)
class PlaybookCatalog:
    """Playbooks by scope.

    Raises:
        CatalogError: two playbooks share a name or a scope, or none is `*/*`.
    """

    playbooks: tuple[Playbook, ...]

    def __post_init__(self) -> None:
        labelled = [
            (entry_label("playbook", i, p), p) for i, p in enumerate(self.playbooks)
        ]
        unique(((label, p.name) for label, p in labelled), "name")
        unique(((label, p.scope) for label, p in labelled), "scope")
        if not any(p.category is None and p.severity is None for p in self.playbooks):
            raise CatalogError("playbooks", "a catch-all playbook (*/*) is required")

    def find(self, category: Category, severity: Severity) -> Playbook:
        """The most specific playbook for `category` at `severity`."""
        by_scope = {(p.category, p.severity): p for p in self.playbooks}
        for scope in ((category, severity), (category, None), (None, severity)):
            if scope in by_scope:
                return by_scope[scope]
        return by_scope[None, None]


def select_playbook(
    triage: Triage, decision: PolicyDecision, catalog: PlaybookCatalog | None = None
) -> PlaybookSelection:
    """The steps for a triaged exception under the tenant's decision.

    `auto_remediate` runs the whole playbook and ends `resolved`; `needs_approval`
    only asks for approval, deferring the playbook, and ends `needs_approval`;
    `notify_only` runs just the playbook's notify steps and ends `notified`.
    """
    found = (default_playbooks() if catalog is None else catalog).find(
        triage.category, triage.severity
    )
    action = decision.action
    deferred: tuple[PlaybookStep, ...] = ()
    if action is PolicyAction.AUTO_REMEDIATE:
        steps, outcome = found.steps, ExceptionStatus.RESOLVED
    elif action is PolicyAction.NEEDS_APPROVAL:
        steps, outcome = (APPROVAL_REQUEST,), ExceptionStatus.NEEDS_APPROVAL
        deferred = found.steps
    else:
        notices = tuple(s for s in found.steps if s.tool is ToolName.NOTIFY)
        steps, outcome = notices or (PLAIN_NOTICE,), ExceptionStatus.NOTIFIED
    return PlaybookSelection(
        playbook=found.name,
        scope=found.scope,
        action=action,
        steps=steps,
        deferred=deferred,
        outcome=outcome,
    )


def parse_playbooks(entries: Iterable[Mapping[str, Any] | Any]) -> PlaybookCatalog:
    """A catalog from decoded JSON entries.

    Raises:
        CatalogError: a playbook is invalid (named with its bad field), repeats
            another's name or scope, or no catch-all exists.
    """
    return PlaybookCatalog(tuple(validate_entries(Playbook, entries, "playbook")))


def load_playbooks(path: Path) -> PlaybookCatalog:
    """A catalog from a JSON file `{"playbooks": [...]}`.

    Raises:
        CatalogError: the file or one of its playbooks is invalid.
    """
    return parse_playbooks(read_entries(path, "playbooks"))


@functools.cache
def default_playbooks() -> PlaybookCatalog:
    """The packaged default playbooks (`data/playbooks.json`), read once."""
    return load_playbooks(DATA_DIR / PLAYBOOKS_FILE)
