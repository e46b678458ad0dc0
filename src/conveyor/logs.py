"""Structured logs (structlog) with secrets redacted before anything is written, and
a bus listener that logs every run event.

Redaction is by key (`password`, `token`, `api_key`, `secret`, `authorization`,
`dsn`, ...) and by value (credentials inside URLs, keys in query strings, bearer
tokens), recursively, so a secret in a nested payload never reaches a log line.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from .bus.base import Bus
from .events import Event

REDACTED = "***"
SECRET_KEYS = re.compile(
    r"pass(word|wd)?|secret|token|api[_-]?key|authorization|cookie|dsn|credential"
    r"|private[_-]?key",
    re.IGNORECASE,
)
URL_CREDENTIALS = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):[^@\s]+@"
)
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=-]+")
QUERY_SECRET = re.compile(
    r"((?:api_key|admin_key|token|password|secret)=)[^&\s\"']*", re.IGNORECASE
)


def redact(value: Any, key: str = "") -> Any:
    """`value` with secrets replaced by `***` (dicts and lists walked)."""
    if key and SECRET_KEYS.search(key):
        return REDACTED
    if isinstance(value, Mapping):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item) for item in value]
    if isinstance(value, str):
        value = URL_CREDENTIALS.sub(rf"\g<scheme>\g<user>:{REDACTED}@", value)
        value = QUERY_SECRET.sub(rf"\g<1>{REDACTED}", value)
        return BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", value)
    return value


def redact_processor(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor applying `redact` to every field."""
    return {key: redact(value, key) for key, value in event_dict.items()}


def configure_logging(level: str = "INFO", *, json: bool = False) -> None:
    """Route structlog and stdlib logging to stderr, redacted; JSON lines if `json`."""
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelName(level.upper())
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


_QUIET = frozenset({"step.progress", "run.progress", "state.updated"})


def log_events(bus: Bus, *, include_data: bool = False) -> None:
    """Log every run event published on `bus` (progress at debug level)."""
    logger = structlog.get_logger("conveyor.events")

    def on_event(event: Event) -> None:
        fields: dict[str, Any] = {
            "run_id": event.run_id,
            "seq": event.seq,
            "tenant": event.tenant,
            "workflow": event.workflow,
        }
        if event.step is not None:
            fields["step"] = event.step
            fields["attempt"] = event.attempt
        if "error" in event.data:
            fields["error"] = event.data["error"]
        if include_data:
            fields["data"] = event.data
        if event.type in _QUIET:
            logger.debug(event.type, **fields)
        elif "error" in fields:
            logger.warning(event.type, **fields)
        else:
            logger.info(event.type, **fields)

    bus.add_listener(on_event)
