"""Buses: how events and control messages travel. `open_bus(url)` picks one."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..errors import ConfigurationError
from .base import Bus as Bus


def open_bus(url: str) -> Bus:
    """The bus for `url`: `memory://` (in-process), or
    `nats://host:4222[?namespace=conveyor&partitions=16]` (NATS JetStream)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        from .memory import MemoryBus

        return MemoryBus()
    if scheme in ("nats", "tls"):
        from .nats import NatsBus

        return NatsBus.from_url(url)
    raise ConfigurationError(
        f"unsupported bus URL scheme {scheme!r} (expected memory:// or nats://)"
    )
