"""The engine tests run in every mode: embedded, and distributed (PostgreSQL, NATS
JetStream and the worker runner, with servers started by the test kit)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["embedded", "distributed"])
def conveyor_mode(request: pytest.FixtureRequest) -> str:
    """Each engine test once per mode."""
    return str(request.param)
