"""The run state machine: exactly the drawn moves are allowed; run ids."""

from __future__ import annotations

import itertools
import time

import pytest

from conveyor import IllegalTransitionError, RunStatus
from conveyor.runs import check_transition, new_run_id

S = RunStatus
ALLOWED = {
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.RUNNING, S.RETRYING),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.PENDING),
    (S.RETRYING, S.RUNNING),
    (S.RETRYING, S.FAILED),
    (S.RETRYING, S.CANCELLED),
    (S.RETRYING, S.PENDING),
    (S.FAILED, S.DEAD),
    (S.DEAD, S.PENDING),
}
ALL_MOVES = list(itertools.product(RunStatus, repeat=2))


@pytest.mark.parametrize(("source", "target"), sorted(ALLOWED))
def test_allowed_transition_accepted(source: RunStatus, target: RunStatus):
    """Every move drawn in the state machine is accepted."""
    check_transition("run-1", source, target)


@pytest.mark.parametrize(
    ("source", "target"), [move for move in ALL_MOVES if move not in ALLOWED]
)
def test_other_transition_rejected(source: RunStatus, target: RunStatus):
    """Every move not drawn raises IllegalTransitionError naming both states."""
    with pytest.raises(IllegalTransitionError) as caught:
        check_transition("run-1", source, target)
    error = caught.value
    assert (error.run_id, error.source, error.target) == ("run-1", source, target), (
        f"expected run-1 {source} -> {target}, got {error.details()}"
    )
    assert f"{source.value} -> {target.value}" in str(error), str(error)


def test_terminal_and_active_states():
    """Completed, failed, cancelled and dead are terminal; running and retrying
    are the states a worker owns."""
    terminal = {status for status in RunStatus if status.is_terminal}
    assert terminal == {S.COMPLETED, S.FAILED, S.CANCELLED, S.DEAD}, f"got {terminal}"
    active = {status for status in RunStatus if status.is_active}
    assert active == {S.RUNNING, S.RETRYING}, f"got {active}"


def test_run_ids_are_time_ordered_and_unique():
    """Run ids look like UUID hex (32 characters) and sort by creation time, so a
    store's indexes keyed by run id take new rows at their end."""
    first = new_run_id()
    time.sleep(0.002)
    later = [new_run_id() for _ in range(1000)]
    assert all(len(run_id) == 32 and int(run_id, 16) >= 0 for run_id in later)
    assert all(first < run_id for run_id in later)
    assert len(set(later)) == len(later)


def test_run_ids_differ_in_a_forked_child():
    """A forked process draws its own random parts: the ids it makes are not the
    ones its parent goes on to make."""
    import os

    new_run_id()  # the parent has random parts drawn ahead
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        os.write(write, "".join(new_run_id() for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        text = pipe.read()
    child = {text[i : i + 32][12:] for i in range(0, len(text), 32)}
    parent = {new_run_id()[12:] for _ in range(5)}
    assert len(child) == 5, f"expected five ids from the child, got {text!r}"
    assert not child & parent, f"expected no shared random parts, got {child & parent}"
