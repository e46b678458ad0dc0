"""Stores: where runs, checkpoints and events live. `open_store(url)` picks one."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from ..clock import Clock
from ..errors import ConfigurationError
from .base import Store as Store


def open_store(url: str, clock: Clock | None = None) -> Store:
    """The store for `url`: `sqlite:///path/to/file.db[?synchronous=NORMAL]`, or
    `postgresql://user:password@host/db[?pool_size=10&max_overflow=0
    &pool_timeout=30&migrate=true&prepared_statements=true
    &plan_cache_mode=force_custom_plan]` (`plan_cache_mode=` sends none)."""
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
    if parts.scheme.split("+", 1)[0] in ("postgres", "postgresql"):
        from .postgres import PostgresStore

        pg_options: dict[str, str] = {
            k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()
        }
        try:
            return PostgresStore(
                url,
                pool_size=int(pg_options.get("pool_size", 10)),
                max_overflow=int(pg_options.get("max_overflow", 0)),
                pool_timeout_s=float(pg_options.get("pool_timeout", 30)),
                migrate=_flag(pg_options.get("migrate", "true")),
                prepared_statements=_flag(
                    pg_options.get("prepared_statements", "true")
                ),
                plan_cache_mode=pg_options.get("plan_cache_mode", "force_custom_plan")
                or None,
                clock=clock,
            )
        except ValueError as exc:
            raise ConfigurationError(f"store URL {url!r}: {exc}") from exc
    raise ConfigurationError(
        f"unsupported store URL scheme {parts.scheme!r} "
        "(expected sqlite:// or postgresql://)"
    )


def _flag(value: str) -> bool:
    """A boolean URL option: anything but 0 / false / no / off is true."""
    return value.lower() not in ("0", "false", "no", "off")
