"""Workflows: deterministic async functions `(run, input) -> output` whose every
awaited step is checkpointed, so they can be replayed after a crash."""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, get_type_hints, overload

from .errors import ConfigurationError, ValidationFailedError
from .serde import revive

OutputT = TypeVar("OutputT")

DEFAULT_QUEUE = "default"
"""The queue of workflows that name none."""
_QUEUE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True, slots=True)
class Workflow(Generic[OutputT]):
    """A workflow definition: its name, function and the types of its input/output."""

    name: str
    fn: Callable[..., Awaitable[OutputT]]
    input_type: Any = Any
    output_type: Any = Any
    description: str = ""
    queue: str = DEFAULT_QUEUE
    """Which workers run it: `conveyor worker --queue NAME` takes only the
    workflows of its queues (distributed mode; embedded mode runs every queue)."""

    def parse_input(self, raw: Any) -> Any:
        """Validate raw input into the declared type; errors name the field."""
        try:
            return revive(self.input_type, raw)
        except Exception as exc:
            field, problem = _first_problem(exc)
            raise ValidationFailedError(f"input{field}", problem) from exc


def _first_problem(exc: Exception) -> tuple[str, str]:
    """The location and message of a pydantic validation error's first problem."""
    errors = getattr(exc, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            loc = "".join(
                f"[{part}]" if isinstance(part, int) else f".{part}"
                for part in items[0].get("loc", ())
            )
            return loc, str(items[0].get("msg", exc))
    return "", str(exc)


def check_queue(queue: str) -> str:
    """A valid queue name (a letter, then letters, digits, `_` or `-`)."""
    if not _QUEUE_NAME.fullmatch(queue):
        raise ConfigurationError(
            f"queue {queue!r} must start with a letter and hold only letters, "
            "digits, _ and - (at most 64)"
        )
    return queue


def make_workflow(
    fn: Callable[..., Awaitable[OutputT]],
    *,
    name: str | None = None,
    queue: str = DEFAULT_QUEUE,
) -> Workflow[OutputT]:
    """Build a `Workflow` from `async def fn(run, input) -> output`."""
    if not inspect.iscoroutinefunction(fn):
        raise ConfigurationError(
            f"workflow {fn.__qualname__} must be an async function"
        )
    params = list(inspect.signature(fn).parameters.values())
    if len(params) != 2:
        raise ConfigurationError(
            f"workflow {fn.__qualname__} must take (run, input), not {len(params)} "
            "parameters"
        )
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable forward references: treat as untyped
        hints = {}
    return Workflow(
        name=name or fn.__name__,
        fn=fn,
        input_type=hints.get(params[1].name, Any),
        output_type=hints.get("return", Any),
        description=inspect.getdoc(fn) or "",
        queue=check_queue(queue),
    )


@overload
def workflow(fn: Callable[..., Awaitable[OutputT]], /) -> Workflow[OutputT]: ...


@overload
def workflow(
    *, name: str | None = None, queue: str = DEFAULT_QUEUE
) -> Callable[[Callable[..., Awaitable[OutputT]]], Workflow[OutputT]]: ...


def workflow(
    fn: Callable[..., Awaitable[OutputT]] | None = None,
    /,
    *,
    name: str | None = None,
    queue: str = DEFAULT_QUEUE,
) -> (
    Workflow[OutputT] | Callable[[Callable[..., Awaitable[OutputT]]], Workflow[OutputT]]
):
    """Decorator: turn `async def f(run, input)` into a workflow definition
    (`queue` picks the workers that run it in distributed mode)."""

    def wrap(inner: Callable[..., Awaitable[OutputT]]) -> Workflow[OutputT]:
        return make_workflow(inner, name=name, queue=queue)

    return wrap(fn) if fn is not None else wrap
