"""Events and checkpoints: built by position or keyword with their defaults, equal
by value, and frozen like any other value object."""

from __future__ import annotations

import dataclasses

import pytest

from conveyor.events import Event
from conveyor.store.base import StepRecord


def test_events_build_like_dataclasses():
    """An event takes its fields by position or keyword, fills in the defaults,
    compares by value and cannot be changed."""
    by_position = Event("r", 2, "step.completed", 1.5, "t", "w", None, "s", 1, {"a": 1})
    by_keyword = Event(
        run_id="r", seq=2, type="step.completed", timestamp=1.5, tenant="t",
        workflow="w", step="s", attempt=1, data={"a": 1},
    )  # fmt: skip
    assert by_position == by_keyword, f"expected equal events, got {by_position}"
    bare = Event("r", 1, "run.started", 0.0, "t", "w")
    assert (bare.session_id, bare.step, bare.attempt, bare.data) == (
        None, None, None, {}
    ), f"expected the defaults, got {bare}"  # fmt: skip
    assert bare.data is not Event("r", 1, "x", 0.0, "t", "w").data, "shared data"
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.seq = 3  # type: ignore[misc]
    moved = dataclasses.replace(bare, seq=5)
    assert (moved.seq, moved.type) == (5, "run.started"), f"got {moved}"


def test_checkpoints_build_like_dataclasses():
    """A checkpoint takes its fields by position or keyword, fills in the
    defaults, compares by value and cannot be changed."""
    record = StepRecord("r", 1, "n", "step", "completed", "d", output=[1], attempts=2)
    same = StepRecord(
        run_id="r", step_id=1, name="n", kind="step", status="completed",
        input_digest="d", output=[1], attempts=2,
    )  # fmt: skip
    assert record == same, f"expected equal checkpoints, got {record}"
    bare = StepRecord("r", 2, "n", "sleep", "started")
    assert (bare.input_digest, bare.output, bare.error, bare.attempts) == (
        "", None, None, 0
    ), f"expected the defaults, got {bare}"  # fmt: skip
    assert (bare.started_at, bare.finished_at) == (0.0, None), f"got {bare}"
    with pytest.raises(dataclasses.FrozenInstanceError):
        bare.status = "failed"  # type: ignore[misc]
