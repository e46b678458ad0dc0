"""The statuses of an exception as it flows through the stages, as an explicit state
machine: every stage moves the status forward one step, and every other move raises.

```
received ─> triaged ─> policy_applied ─> playbook_selected ─> remediating
remediating ─> resolved | notified | needs_approval
needs_approval ─> remediating (approved) | notified (refused)
any stage ─> failed ─> dead_lettered, or straight to dead_lettered
dead_lettered ─> the stage whose event failed (replay)
```

Kept apart from `models` because it is one concept with its own table,
like conveyor's run lifecycle in `runs.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .errors import StatusTransitionError


class ExceptionStatus(StrEnum):
    """Where an exception is in its flow."""

    RECEIVED = "received"
    TRIAGED = "triaged"
    POLICY_APPLIED = "policy_applied"
    PLAYBOOK_SELECTED = "playbook_selected"
    REMEDIATING = "remediating"
    RESOLVED = "resolved"
    NEEDS_APPROVAL = "needs_approval"
    NOTIFIED = "notified"
    FAILED = "failed"
    DEAD_LETTERED = "dead_lettered"

    @property
    def is_terminal(self) -> bool:
        """No stage works on the exception in this status any more (a dead-lettered
        one may be replayed, a pending approval may be granted)."""
        return self in _TERMINAL

    @property
    def is_in_flight(self) -> bool:
        """A stage still has to pick the exception up."""
        return self in _STAGES


_S = ExceptionStatus
_STAGES = (
    _S.RECEIVED,
    _S.TRIAGED,
    _S.POLICY_APPLIED,
    _S.PLAYBOOK_SELECTED,
    _S.REMEDIATING,
)
_TERMINAL = frozenset(
    {_S.RESOLVED, _S.NEEDS_APPROVAL, _S.NOTIFIED, _S.FAILED, _S.DEAD_LETTERED}
)
_GIVE_UP = frozenset({_S.FAILED, _S.DEAD_LETTERED})

TRANSITIONS: Mapping[ExceptionStatus, frozenset[ExceptionStatus]] = {
    _S.RECEIVED: frozenset({_S.TRIAGED}) | _GIVE_UP,
    _S.TRIAGED: frozenset({_S.POLICY_APPLIED}) | _GIVE_UP,
    _S.POLICY_APPLIED: frozenset({_S.PLAYBOOK_SELECTED}) | _GIVE_UP,
    _S.PLAYBOOK_SELECTED: frozenset({_S.REMEDIATING}) | _GIVE_UP,
    _S.REMEDIATING: frozenset({_S.RESOLVED, _S.NEEDS_APPROVAL, _S.NOTIFIED}) | _GIVE_UP,
    _S.RESOLVED: frozenset(),
    _S.NEEDS_APPROVAL: frozenset({_S.REMEDIATING, _S.NOTIFIED}),
    _S.NOTIFIED: frozenset(),
    _S.FAILED: frozenset({_S.DEAD_LETTERED}),
    # a replay resumes at the stage whose event was dead-lettered
    _S.DEAD_LETTERED: frozenset(_STAGES),
}


def can_transition(source: ExceptionStatus, target: ExceptionStatus) -> bool:
    """Whether `source -> target` is a legal move."""
    return target in TRANSITIONS[source]


def check_transition(
    exception_id: str, source: ExceptionStatus, target: ExceptionStatus
) -> ExceptionStatus:
    """Return `target` if `source -> target` is legal.

    Raises:
        StatusTransitionError: the move is illegal (a stage ran out of order, or a
            duplicate event tried to repeat a move already made).
    """
    if not can_transition(source, target):
        raise StatusTransitionError(exception_id, source.value, target.value)
    return target
