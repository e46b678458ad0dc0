"""Log redaction: secrets never reach a log line."""

from __future__ import annotations

import json

import structlog

from conveyor.bus.memory import MemoryBus
from conveyor.events import Event
from conveyor.logs import configure_logging, log_events, redact


def test_redact_secret_keys_urls_and_tokens():
    """Secret-named fields, URL credentials and bearer tokens are masked, nested
    too; everything else is left alone."""
    record = {
        "api_key": "k-123",
        "nested": {"Password": "hunter2", "items": [{"token": "t"}, "keep"]},
        "dsn_text": "plain",
        "url": "postgresql://app:s3cret@db:5432/x",
        "header": "Bearer abc.def.ghi",
        "count": 3,
    }
    assert redact(record) == {
        "api_key": "***",
        "nested": {"Password": "***", "items": [{"token": "***"}, "keep"]},
        "dsn_text": "***",
        "url": "postgresql://app:***@db:5432/x",
        "header": "Bearer ***",
        "count": 3,
    }


def test_event_log_lines_are_redacted(capsys):
    """Run events are logged as JSON lines with secrets in their data masked."""
    configure_logging("DEBUG", json=True)
    try:
        bus = MemoryBus()
        log_events(bus, include_data=True)
        bus.publish(
            [
                Event(
                    "r1", 1, "step.failed", 0.0, "t1", "wf", step="call", attempt=2,
                    data={"error": {"type": "E", "message": "nats://u:pw@host failed"},
                          "secret": "x"},
                )
            ]
        )  # fmt: skip
        line = capsys.readouterr().err.strip().splitlines()[-1]
        logged = json.loads(line)
        assert logged["event"] == "step.failed"
        assert logged["level"] == "warning"
        assert "pw" not in line, f"a password leaked: {line}"
        assert logged["data"]["secret"] == "***"
    finally:
        structlog.reset_defaults()
