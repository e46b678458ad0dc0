"""Shared types of the exception domain tests (imported by bare name: the test
folders are not packages)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conveyor_apps.exceptions import NormalizedException

ReportFactory = Callable[..., dict[str, Any]]
"""Builds a valid report payload; keyword arguments override fields."""

ExceptionFactory = Callable[..., NormalizedException]
"""Builds a normalized exception; `tenant=` and report fields may be overridden."""
