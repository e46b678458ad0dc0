"""Buses: how events and control messages travel. `open_bus(url)` picks one."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .base import Bus as Bus


def open_bus(url: str) -> Bus:
    """The bus for `url`: `memory://` (in-process)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from .memory import MemoryBus

        return MemoryBus()
    raise ConfigurationError(
        f"unsupported bus URL scheme {scheme!r} (expected memory://)"
    )
