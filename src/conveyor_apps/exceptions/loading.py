"""Reading the plain-JSON data files (triage rules, playbooks, tenants) and validating
their entries, so that a bad entry is reported by its position and name."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from .errors import CatalogError

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_entries(path: Path, key: str) -> list[Any]:
    """The list under `key` in the JSON object stored at `path`.

    Raises:
        CatalogError: the file is missing, is not JSON, or has no such list.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(str(path), f"cannot be read: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(
            str(path), f"is not valid JSON (line {exc.lineno}): {exc.msg}"
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get(key), list):
        raise CatalogError(str(path), f"must be a JSON object with a {key!r} list")
    entries: list[Any] = document[key]
    return entries


def validate_entries(
    model: type[ModelT], entries: Iterable[Any], what: str
) -> list[ModelT]:
    """Validate every entry as `model`.

    Raises:
        CatalogError: an entry is invalid; names it as `<what> #<index> '<name>'`
            and the first offending field.
    """
    valid: list[ModelT] = []
    for index, raw in enumerate(entries):
        try:
            valid.append(model.model_validate(raw))
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(part) for part in first["loc"]) or "entry"
            raise CatalogError(
                entry_label(what, index, raw), f"{field}: {first['msg']}"
            ) from exc
    return valid


def entry_label(what: str, index: int, raw: Any) -> str:
    """`rule #3 'payments-batch'`: how a message points at one entry."""
    name = None
    if isinstance(raw, dict):
        name = raw.get("tenant_id") or raw.get("name")
    elif isinstance(raw, BaseModel):
        name = getattr(raw, "tenant_id", None) or getattr(raw, "name", None)
    return f"{what} #{index}" + (f" {name!r}" if name else "")


def unique(labels: Iterable[tuple[str, Any]], what: str) -> None:
    """Refuse a repeated key among `(label, key)` pairs.

    Raises:
        CatalogError: naming the second entry that uses a key already taken.
    """
    seen: dict[Any, str] = {}
    for label, key in labels:
        if key in seen:
            raise CatalogError(label, f"repeats the {what} of {seen[key]}")
        seen[key] = label
