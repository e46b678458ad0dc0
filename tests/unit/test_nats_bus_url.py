"""`NatsBus.from_url`: the bus's options come from its URL's query, and a bad
value is a configuration error naming the URL."""

from __future__ import annotations

import pytest

from conveyor.bus.nats import NatsBus
from conveyor.errors import ConfigurationError


def test_options_from_the_query() -> None:
    """Namespace, partitions, pin timeout, deliveries and the relay's repeat
    interval are read from the query, which the server URL loses."""
    bus = NatsBus.from_url(
        "nats://127.0.0.1:4222?namespace=ns&partitions=4&pin_ttl=2&max_deliver=3"
        "&relay_repeat=5"
    )
    assert bus.url == "nats://127.0.0.1:4222"
    assert bus.subjects.partitions == 4
    assert bus.dispatch_config.pin_ttl_s == 2.0
    assert bus.dispatch_config.max_deliver == 3
    assert bus.relay_repeat_s == 5.0


def test_defaults() -> None:
    """Without a query, the relay sends a waiting message again every 30 s."""
    bus = NatsBus.from_url("nats://127.0.0.1:4222")
    assert bus.relay_repeat_s == 30.0
    assert bus.subjects.partitions == 16


def test_bad_value_names_the_url() -> None:
    """A value that is not a number is a configuration error."""
    with pytest.raises(ConfigurationError, match="relay_repeat"):
        NatsBus.from_url("nats://127.0.0.1:4222?relay_repeat=soon")
