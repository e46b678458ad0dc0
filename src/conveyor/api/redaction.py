"""A logging filter that blanks API keys out of log lines: the access log prints
request paths, and WebSocket clients may pass `api_key` in the query string."""

from __future__ import annotations

import logging
import re

_KEY_IN_QUERY = re.compile(r"((?:api_key|admin_key|token)=)[^&\s\"']*", re.IGNORECASE)
REDACTED = "[redacted]"
LOGGERS = ("uvicorn.access", "uvicorn.error", "conveyor")


def redact(text: str) -> str:
    """`text` with every key-looking query value replaced."""
    return _KEY_IN_QUERY.sub(rf"\g<1>{REDACTED}", text)


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
