"""The status of an exception moves only along the state machine's edges."""

from __future__ import annotations

import itertools

import pytest

from conveyor.errors import IllegalTransitionError
from conveyor_apps.exceptions import (
    ExceptionStatus,
    StatusTransitionError,
    can_transition,
    check_transition,
)
from conveyor_apps.exceptions.status import TRANSITIONS

S = ExceptionStatus
HAPPY_PATH = [
    S.RECEIVED,
    S.TRIAGED,
    S.POLICY_APPLIED,
    S.PLAYBOOK_SELECTED,
    S.REMEDIATING,
    S.RESOLVED,
]


def test_happy_path_is_legal() -> None:
    """Each stage moves the status one step forward, up to resolved."""
    for source, target in itertools.pairwise(HAPPY_PATH):
        assert check_transition("exc-1", source, target) is target


@pytest.mark.parametrize("end", [S.RESOLVED, S.NOTIFIED, S.NEEDS_APPROVAL])
def test_remediation_ends_in_an_outcome(end: ExceptionStatus) -> None:
    """Remediation ends resolved, notified or waiting for approval."""
    assert can_transition(S.REMEDIATING, end)


def test_approval_resumes_or_ends_notified() -> None:
    """An approval resumes remediation; a refusal ends with a notice."""
    assert can_transition(S.NEEDS_APPROVAL, S.REMEDIATING)
    assert can_transition(S.NEEDS_APPROVAL, S.NOTIFIED)
    assert not can_transition(S.NEEDS_APPROVAL, S.RESOLVED)


@pytest.mark.parametrize("stage", HAPPY_PATH[:-1])
def test_every_stage_may_fail_or_dead_letter(stage: ExceptionStatus) -> None:
    """Any stage in flight may fail or be dead-lettered; a failure dead-letters."""
    assert can_transition(stage, S.FAILED)
    assert can_transition(stage, S.DEAD_LETTERED)
    assert can_transition(S.FAILED, S.DEAD_LETTERED)


@pytest.mark.parametrize("stage", HAPPY_PATH[:-1])
def test_replay_resumes_any_stage(stage: ExceptionStatus) -> None:
    """A dead-lettered exception may be replayed at the stage that failed."""
    assert can_transition(S.DEAD_LETTERED, stage)


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.RECEIVED, S.POLICY_APPLIED),  # skips triage
        (S.TRIAGED, S.TRIAGED),  # a duplicate event repeating a move
        (S.REMEDIATING, S.TRIAGED),  # backwards
        (S.RESOLVED, S.REMEDIATING),  # out of a final status
        (S.NOTIFIED, S.FAILED),
        (S.FAILED, S.RECEIVED),  # only a dead letter is replayed
        (S.DEAD_LETTERED, S.RESOLVED),
    ],
)
def test_illegal_moves_raise(source: ExceptionStatus, target: ExceptionStatus) -> None:
    """A move off the table raises StatusTransitionError naming both statuses."""
    with pytest.raises(StatusTransitionError) as caught:
        check_transition("exc-9", source, target)
    error = caught.value
    assert (error.source, error.target) == (source.value, target.value)
    assert error.exception_id == "exc-9", error.exception_id
    expected = f"exception exc-9: illegal status transition {source} -> {target}"
    assert str(error) == expected, str(error)
    assert isinstance(error, IllegalTransitionError), "the API maps it to 409"


def test_table_covers_every_status_and_final_ones_stay() -> None:
    """Every status has a row; resolved and notified have no way out."""
    assert set(TRANSITIONS) == set(ExceptionStatus)
    assert TRANSITIONS[S.RESOLVED] == TRANSITIONS[S.NOTIFIED] == frozenset()


def test_terminal_and_in_flight_partition_the_statuses() -> None:
    """Each status is either in flight (a stage will pick it up) or terminal."""
    for status in ExceptionStatus:
        assert status.is_terminal != status.is_in_flight, status
    assert not S.REMEDIATING.is_terminal
    assert S.DEAD_LETTERED.is_terminal
