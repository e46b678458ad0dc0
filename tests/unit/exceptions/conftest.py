"""Shared fixtures of the exception domain tests: report and exception factories, and
the fake external services on a real uvicorn server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from exceptions_support import ExceptionFactory, ReportFactory

from conveyor_apps.exceptions import (
    NormalizedException,
    Toolbox,
    ToolSettings,
    normalize,
    parse_report,
)
from conveyor_apps.exceptions.fakes import FakeServer, FakeServices


@pytest.fixture(name="report_for")
def fixture_report_for() -> ReportFactory:
    """Factory: a valid report payload, with any field overridden."""

    def make(**fields: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "source": "billing",
            "kind": "nightly_batch_failed",
            "message": "Batch 42 failed: card network unreachable",
            "occurred_at": "2025-03-01T10:00:00+00:00",
            "attributes": {"job_id": "job-42"},
        }
        payload.update(fields)
        return payload

    return make


@pytest.fixture(name="exception_for")
def fixture_exception_for(report_for: ReportFactory) -> ExceptionFactory:
    """Factory: a normalized exception of tenant `acme` (or `tenant=`), with any
    report field overridden."""

    def make(tenant: str = "acme", **fields: Any) -> NormalizedException:
        return normalize(parse_report(report_for(**fields)), tenant)

    return make


@pytest.fixture(name="fake_server")
async def fixture_fake_server() -> AsyncIterator[FakeServer]:
    """The fake external services on a real uvicorn server on a free loopback port,
    stopped (and its port released) after the test."""
    async with FakeServer(FakeServices()) as server:
        yield server


@pytest.fixture(name="live_toolbox")
async def fixture_live_toolbox(fake_server: FakeServer) -> AsyncIterator[Toolbox]:
    """A toolbox pointed at the live fake, with a short timeout."""
    async with Toolbox(ToolSettings(base_url=fake_server.url, timeout_s=2.0)) as box:
        yield box
