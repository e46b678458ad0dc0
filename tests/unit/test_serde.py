"""Serde: stable digests for the determinism check, JSON round trips, and size
limits that name the offending field."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import BaseModel

from conveyor.errors import PayloadTooLargeError
from conveyor.serde import check_size, digest, dumps, loads, revive, to_jsonable


def test_digest_ignores_key_order():
    """Dicts with the same items digest alike, however their keys were ordered."""
    one = {"a": 1, "b": {"x": [1, 2], "y": None}}
    two = {"b": {"y": None, "x": [1, 2]}, "a": 1}
    assert digest(one) == digest(two), "expected key order not to matter"


def test_digest_tells_values_apart():
    """Different values (or list orders) give different, fixed-length digests."""
    digests = {digest(value) for value in ({"a": 1}, {"a": 2}, [1, 2], [2, 1], "1", 1)}
    assert len(digests) == 6, f"expected six distinct digests, got {digests}"
    assert {len(item) for item in digests} == {32}, f"got {digests}"


def test_digest_is_pinned():
    """A digest never changes across processes or releases: recorded histories
    must keep matching on replay (a change here breaks every stored run)."""
    got = digest({"b": [1, "x", None], "a": 1.5})
    assert got == "90772fff105e708edb9b9c58aa8d7f6f", f"the digest changed: {got}"


class Order(BaseModel):
    """A pydantic input."""

    sku: str
    qty: int


@dataclasses.dataclass
class Line:
    """A dataclass input."""

    sku: str
    qty: int


def test_values_cross_the_boundary_as_json():
    """Models and dataclasses become plain JSON, and revive into their type."""
    model = to_jsonable(Order(sku="a", qty=2))
    assert model == {"sku": "a", "qty": 2}, f"got {model!r}"
    lines = to_jsonable([Line("b", 1)])
    assert lines == [{"sku": "b", "qty": 1}], f"got {lines!r}"
    revived = revive(Order, loads(dumps(to_jsonable(Order(sku="c", qty=3)))))
    assert revived == Order(sku="c", qty=3), f"got {revived!r}"
    assert loads(None) is None, "expected None to stay None"


def test_check_size_passes_small_payloads():
    """Payloads within the limit pass, scalars and short strings without encoding."""
    for value in ({"a": "é"}, 12, 1.5, True, None, "short"):
        check_size("input", value, 100)


def test_check_size_counts_long_strings():
    """A string whose characters may exceed the limit in UTF-8 is measured."""
    check_size("input", "é" * 40, 100)
    with pytest.raises(PayloadTooLargeError):
        check_size("input", "é" * 60, 100)


def test_check_size_names_the_field():
    """A payload over the limit raises PayloadTooLargeError naming the field and
    counting UTF-8 bytes, not characters."""
    with pytest.raises(PayloadTooLargeError) as caught:
        check_size("step fetch output", "é" * 600, 1024)
    error = caught.value
    got = (error.field, error.size_bytes, error.max_bytes)
    assert got == ("step fetch output", 1202, 1024), f"got {error.details()}"
    assert "step fetch output" in str(error), f"expected the field named: {error}"


SAMPLES = [
    None,
    True,
    -7,
    10**30,
    1.5,
    float("nan"),
    float("-inf"),
    "",
    'é ü \u2028 "quoted" \\ \n',
    [],
    {},
    {"b": 1, "a": [1, "ü", None, {"z": 2.5, "y": {}}]},
]


@pytest.mark.parametrize("value", SAMPLES, ids=repr)
def test_encoding_matches_the_json_module(value: object):
    """`dumps` and `digest` give exactly what `json` gives with the same options
    (stored text and recorded digests stay as they were), non-ASCII included."""
    import json

    import blake3

    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    assert dumps(value) == text, f"expected {text!r}, got {dumps(value)!r}"
    canonical = json.dumps(value, separators=(",", ":"), sort_keys=True).encode()
    expected = blake3.blake3(canonical).hexdigest(length=16)
    assert digest(value) == expected, f"expected {expected}, got {digest(value)}"


def test_encoding_recovers_from_a_failure():
    """A value that cannot be encoded raises as `json` does, and leaves no trace
    that would make the next encoding of the same container fail."""
    looped: list[object] = []
    looped.append(looped)
    with pytest.raises(ValueError, match="Circular reference"):
        dumps(looped)
    shared = {"x": 1}
    bad = {"inner": shared, "odd": object()}
    with pytest.raises(TypeError, match="not JSON serializable"):
        dumps(bad)
    assert dumps({"again": shared}) == '{"again":{"x":1}}', "expected a clean encoder"


def test_encoding_works_from_several_threads():
    """Threads encode side by side (the store's commit thread and the event loop)
    and each gets its own value's text."""
    from concurrent.futures import ThreadPoolExecutor

    values = [{"n": n, "items": list(range(n % 7))} for n in range(400)]
    with ThreadPoolExecutor(4) as pool:
        texts = list(pool.map(dumps, values))
    assert texts == [dumps(value) for value in values], "expected matching texts"
