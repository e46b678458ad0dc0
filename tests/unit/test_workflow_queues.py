"""Workflow queues: the name a workflow carries, and the NATS subjects and
consumers each queue gets."""

from __future__ import annotations

from typing import Any

import pytest

from conveyor import ConfigurationError, workflow
from conveyor.bus.nats_subjects import Subjects
from conveyor.workflows import DEFAULT_QUEUE


async def _flow(run: Any, data: int) -> int:
    return data


def test_workflow_queue_defaults_and_is_checked() -> None:
    """A workflow is on the default queue unless it names one; names must start
    with a letter and hold only letters, digits, `_` and `-`."""
    assert workflow(_flow).queue == DEFAULT_QUEUE
    assert workflow(queue="triage")(_flow).queue == "triage"
    for bad in ("", "3", "tri age", "a.b", "x" * 65):
        with pytest.raises(ConfigurationError):
            workflow(queue=bad)(_flow)


def test_queue_subjects_and_consumers() -> None:
    """The default queue keeps the plain subjects and consumer names; a named
    queue gets its own, all under one stream subject."""
    subjects = Subjects("ns", 4)
    assert subjects.dispatch(2) == "ns.runs.2", subjects.dispatch(2)
    assert subjects.consumer(2) == "p2", subjects.consumer(2)
    assert subjects.dispatch(2, "triage") == "ns.runs.triage.2"
    assert subjects.consumer(2, "triage") == "triage-p2"
    assert subjects.runs_subjects == "ns.runs.>"
