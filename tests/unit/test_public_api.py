"""The public surface: `conveyor.__all__` and `conveyor.testing.__all__` are pinned,
sorted, and every name in them can be imported."""

from __future__ import annotations

import types

import pytest

import conveyor
import conveyor.testing

CONVEYOR = [
    "Agent",
    "AgentNotFoundError",
    "AgentTimeoutError",
    "BreakerPolicy",
    "CircuitOpenError",
    "ConfigurationError",
    "Conveyor",
    "ConveyorError",
    "Event",
    "EventType",
    "HandoffManager",
    "IllegalTransitionError",
    "LeaseLostError",
    "LogEntry",
    "NonDeterminismError",
    "NotFoundError",
    "RetryPolicy",
    "RunCancelledError",
    "RunContext",
    "RunFailedError",
    "RunHandle",
    "RunNotFoundError",
    "RunRecord",
    "RunStatus",
    "Settings",
    "StepContext",
    "StepFailedError",
    "ValidationFailedError",
    "Workflow",
    "WorkflowNotFoundError",
    "agent",
    "workflow",
]
TESTING = [
    "Call",
    "Crash",
    "Delay",
    "EventCapture",
    "FailNth",
    "FailTimes",
    "FakeAgent",
    "Fault",
    "Hang",
    "InjectedError",
    "LocalServer",
    "Raise",
    "StoreConformance",
    "VirtualClock",
    "assert_events",
    "paused_heartbeats",
    "stored_events",
    "wait_until",
]


@pytest.mark.parametrize(
    ("module", "expected"), [(conveyor, CONVEYOR), (conveyor.testing, TESTING)]
)
def test_all_is_pinned_sorted_and_importable(
    module: types.ModuleType, expected: list[str]
):
    """`__all__` is exactly the pinned list, sorted, and each name resolves."""
    names = list(module.__all__)
    assert names == expected, (
        f"{module.__name__}.__all__ drifted: added {sorted(set(names) - set(expected))}"
        f", removed {sorted(set(expected) - set(names))}; update this test on purpose"
    )
    assert names == sorted(names), f"expected {module.__name__}.__all__ sorted"
    missing = [name for name in names if not hasattr(module, name)]
    assert not missing, f"expected every name importable, missing {missing}"


@pytest.mark.parametrize("module", [conveyor, conveyor.testing])
def test_every_public_name_is_in_all(module: types.ModuleType):
    """Nothing public is importable from the package without being in `__all__`."""
    public = {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and name != "annotations"  # from __future__
    }
    extra = sorted(public - set(module.__all__))
    assert not extra, f"expected these in {module.__name__}.__all__ or private: {extra}"
