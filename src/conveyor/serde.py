"""How values cross the durable boundary: JSON for storage and the wire, BLAKE3 digests
for the determinism check, pydantic adapters to get typed values back on replay."""

from __future__ import annotations

import functools
import json
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


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_CANONICAL = json.JSONEncoder(separators=(",", ":"), sort_keys=True)


def dumps(value: Any) -> str:
    """Compact JSON text of an already-jsonable value."""
    return _ENCODER.encode(value)


def loads(text: str | None) -> Any:
    """Parse JSON text (None stays None)."""
    return None if text is None else json.loads(text)


def digest(value: Any) -> str:
    """A short, stable digest of a jsonable value (key order does not matter)."""
    return blake3.blake3(_CANONICAL.encode(value).encode()).hexdigest(length=16)


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
