"""Subjects and wire forms of `NatsBus`: where events, controls and dispatches go,
and how events travel as JSON.

```
<ns>.ev.<tenant>.<session>.<run_id>.ev   events of one write, fanned out (core
<ns>.ev.<tenant>.<session>.<run_id>.end  NATS; `end` when the run ends in it)
<ns>.ctl                                 cancel / signal hints to every worker
<ns>.workers                             workers announcing themselves
<ns>.runs.<partition>                    run dispatch, stream <NS>_RUNS (work queue)
<ns>.runs.<queue>.<partition>            run dispatch of a named queue, same stream
<ns>.dlq                                 undeliverable dispatches, stream <NS>_DLQ
```
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from typing import Any

from ..bus.base import Topic
from ..errors import ConfigurationError
from ..events import TERMINAL_EVENTS, Event
from ..workflows import DEFAULT_QUEUE

_TERMINAL = frozenset(event.value for event in TERMINAL_EVENTS)
_PLAIN = re.compile(r"[A-Za-z0-9_-]+")
NONE_TOKEN = "~"


def token(value: str | None) -> str:
    """One subject token for `value`: itself if plain, else `~` + hex (None is `~`)."""
    if value is None:
        return NONE_TOKEN
    if _PLAIN.fullmatch(value):
        return value
    return NONE_TOKEN + value.encode().hex()


def check_namespace(namespace: str) -> str:
    """A namespace usable in subjects and stream names."""
    if not _PLAIN.fullmatch(namespace):
        raise ConfigurationError(
            f"bus namespace {namespace!r} may hold only letters, digits, _ and -"
        )
    return namespace


class Subjects:
    """The subjects and streams of one namespace."""

    def __init__(self, namespace: str, partitions: int) -> None:
        self.ns = check_namespace(namespace)
        self.partitions = partitions
        stem = self.ns.upper().replace("-", "_")
        self.runs_stream = f"{stem}_RUNS"
        self.dlq_stream = f"{stem}_DLQ"
        self.control = f"{self.ns}.ctl"
        self.workers = f"{self.ns}.workers"
        self.dlq = f"{self.ns}.dlq"

    def events(self, events: Sequence[Event]) -> str:
        """Where one write's events of one run are published: the last token says
        whether the run ends among them (`end`) or not (`ev`)."""
        first = events[0]
        last = "end" if any(e.type in _TERMINAL for e in events) else "ev"
        return (
            f"{self.ns}.ev.{token(first.tenant)}.{token(first.session_id)}."
            f"{token(first.run_id)}.{last}"
        )

    def topic(self, topic: Topic) -> str:
        """The subscription subject covering `topic` (only messages that end a
        run when it wants terminal events alone)."""
        tenant = "*" if topic.tenant is None else token(topic.tenant)
        session = "*" if topic.session_id is None else token(topic.session_id)
        run = "*" if topic.run_id is None else token(topic.run_id)
        ends = topic.types is not None and topic.types <= _TERMINAL
        return f"{self.ns}.ev.{tenant}.{session}.{run}.{'end' if ends else '*'}"

    def partition(self, tenant: str, key: str | None, run_id: str) -> int:
        """The partition of a run: by (tenant, key) so a key's runs share one,
        by run id when the run has no key."""
        basis = f"{tenant}\0{key}" if key is not None else run_id
        return zlib.crc32(basis.encode()) % self.partitions

    @property
    def runs_subjects(self) -> str:
        """Every dispatch subject, of every queue."""
        return f"{self.ns}.runs.>"

    def dispatch(self, partition: int, queue: str = DEFAULT_QUEUE) -> str:
        """The dispatch subject of a partition of `queue`."""
        if queue == DEFAULT_QUEUE:
            return f"{self.ns}.runs.{partition}"
        return f"{self.ns}.runs.{queue}.{partition}"

    def consumer(self, partition: int, queue: str = DEFAULT_QUEUE) -> str:
        """The durable consumer of a partition of `queue`."""
        if queue == DEFAULT_QUEUE:
            return f"p{partition}"
        return f"{queue}-p{partition}"


def encode_events(events: Sequence[Event]) -> bytes:
    """Events of one run as one message."""
    return json.dumps([event.to_dict() for event in events]).encode()


def decode_events(payload: bytes) -> list[Event]:
    """Events from a message."""
    items: list[dict[str, Any]] = json.loads(payload)
    return [
        Event(
            run_id=item["run_id"],
            seq=item["seq"],
            type=item["type"],
            timestamp=item["timestamp"],
            tenant=item["tenant"],
            workflow=item["workflow"],
            session_id=item.get("session_id"),
            step=item.get("step"),
            attempt=item.get("attempt"),
            data=item.get("data") or {},
        )
        for item in items
    ]
