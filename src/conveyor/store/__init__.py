"""Stores: where runs, checkpoints and events live. `open_store(url)` picks one."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..clock import Clock
from ..errors import ConfigurationError
from .base import Store as Store


def open_store(url: str, clock: Clock | None = None) -> Store:
    """The store for `url`: `sqlite:///path/to/file.db[?synchronous=NORMAL]`."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        from .sqlite import SqliteStore

        path = parts.path
        if parts.netloc:
            raise ConfigurationError(
                f"store URL {url!r}: use sqlite:///relative.db or sqlite:////abs.db"
            )
        path = path[1:] if path.startswith("/") else path
        if not path:
            raise ConfigurationError(f"store URL {url!r} names no file")
        options = parse_qs(parts.query)
        synchronous = options.get("synchronous", ["FULL"])[0]
        return SqliteStore(path, synchronous=synchronous, clock=clock)
    raise ConfigurationError(
        f"unsupported store URL scheme {parts.scheme!r} (expected sqlite://)"
    )
