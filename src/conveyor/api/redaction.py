"""A logging filter that blanks secrets out of the server's stdlib log lines: the
access log prints request paths, and WebSocket clients may pass `api_key` in the
query string. The rules are those of `conveyor.logs.redact`."""

from __future__ import annotations

import logging

from ..logs import redact

LOGGERS = ("uvicorn.access", "uvicorn.error", "conveyor")


class RedactKeysFilter(logging.Filter):
    """Rewrites the message and string arguments of each record it sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def install_key_redaction() -> None:
    """Attach the filter to the server's loggers (once each)."""
    for name in LOGGERS:
        log = logging.getLogger(name)
        if not any(isinstance(item, RedactKeysFilter) for item in log.filters):
            log.addFilter(RedactKeysFilter())
