"""How values cross the durable boundary: JSON for storage and the wire, BLAKE3 digests
for the determinism check, pydantic adapters to get typed values back on replay."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Callable
from json.encoder import (  # type: ignore[attr-defined]
    c_make_encoder,
    encode_basestring,
    encode_basestring_ascii,
)
from typing import Any

import blake3
from pydantic import BaseModel, TypeAdapter

from .errors import PayloadTooLargeError


def to_jsonable(value: Any) -> Any:
    """Plain JSON types for `value` (pydantic models and dataclasses included)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, dict) and all(
        isinstance(k, str) and (v is None or isinstance(v, str | int | float | bool))
        for k, v in value.items()
    ):
        return value
    return _ANY.dump_python(value, mode="json")


_ANY: TypeAdapter[Any] = TypeAdapter(Any)


def _reused(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """`encoder.encode` without building a new C encoder for every value, which
    was most of the cost of encoding the small values of a run's checkpoints and
    events; the text is the same (it is the same C encoder). One per thread, as
    its circular-reference markers are per encoding; cleared after a failure."""
    if c_make_encoder is None:  # pragma: no cover - CPython has the C encoder
        return encoder.encode
    basestring = encode_basestring_ascii if encoder.ensure_ascii else encode_basestring
    local = threading.local()

    def encode(value: Any) -> str:
        try:
            iterencode, markers = local.state
        except AttributeError:
            markers = {}
            iterencode = c_make_encoder(
                markers, encoder.default, basestring, None, encoder.key_separator,
                encoder.item_separator, encoder.sort_keys, encoder.skipkeys,
                encoder.allow_nan,
            )  # fmt: skip
            local.state = iterencode, markers
        try:
            return "".join(iterencode(value, 0))
        except BaseException:
            markers.clear()
            raise

    return encode


_encode = _reused(json.JSONEncoder(separators=(",", ":"), ensure_ascii=False))
_encode_canonical = _reused(json.JSONEncoder(separators=(",", ":"), sort_keys=True))


def dumps(value: Any) -> str:
    """Compact JSON text of an already-jsonable value."""
    return _encode(value)


def loads(text: str | None) -> Any:
    """Parse JSON text (None stays None)."""
    return None if text is None else json.loads(text)


def digest(value: Any) -> str:
    """A short, stable digest of a jsonable value (key order does not matter)."""
    return blake3.blake3(_encode_canonical(value).encode()).hexdigest(length=16)


@functools.lru_cache(maxsize=512)
def adapter_for(annotation: Any) -> TypeAdapter[Any]:
    """A cached pydantic adapter that turns stored JSON back into `annotation`."""
    return TypeAdapter(annotation)


def revive(annotation: Any, value: Any) -> Any:
    """Validate a stored jsonable `value` into `annotation` (identity for Any)."""
    if annotation is Any or annotation is None:
        return value
    return adapter_for(annotation).validate_python(value)


def check_size(field: str, value: Any, max_bytes: int) -> None:
    """Refuse `value` when its JSON is larger than `max_bytes`."""
    if value is None or isinstance(value, bool | int | float):
        return  # a scalar is always small: skip encoding it
    if isinstance(value, str) and len(value) * 4 < max_bytes:
        return  # at most 4 bytes per character in UTF-8
    text = dumps(value)
    size = len(text.encode())
    if size > max_bytes:
        raise PayloadTooLargeError(field, size, max_bytes)
