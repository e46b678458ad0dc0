"""Agents: async callables with a policy (timeout, retry, breaker, concurrency limit).

An agent is called either as a checkpointed step inside a workflow (`run.call`) or
directly (`Conveyor.call`, not durable); both go through `call_with_policies`, so the
policies and the events are the same either way.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar, get_type_hints, overload

from .clock import Clock, clock_timeout
from .errors import AgentTimeoutError, CircuitOpenError, ConfigurationError
from .policies import BreakerPolicy, CircuitBreaker, Limits, RetryPolicy

OutputT = TypeVar("OutputT")

DEFAULT_RETRY = RetryPolicy()


class StepObserver(Protocol):
    """Told about each attempt of a step (the executor turns this into events)."""

    def attempt_started(self, attempt: int) -> None: ...

    def attempt_failed(
        self, attempt: int, error: BaseException, backoff_s: float | None
    ) -> None: ...

    def progress(
        self, fraction: float | None, message: str, data: dict[str, Any]
    ) -> None: ...


@dataclass(slots=True)
class StepContext:
    """What a running step may know and do: its identity, its attempt, the stable
    idempotency key for its side effects, progress reports and cancellation."""

    name: str
    run_id: str | None
    step_id: int | None
    tenant: str
    session_id: str | None
    observer: StepObserver
    attempt: int = 1
    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and recoveries of this step: use it on side effects."""
        if self.run_id is None:
            return f"direct:{self.name}:{id(self)}"
        return f"{self.run_id}:{self.step_id}"

    @property
    def cancelled(self) -> bool:
        """Whether the run was asked to stop (co-operative cancellation)."""
        return self.cancel_requested.is_set()

    def progress(
        self, fraction: float | None = None, message: str = "", **data: Any
    ) -> None:
        """Report progress (0.0-1.0 or None) with a message; becomes a `step.progress`
        event."""
        self.observer.progress(fraction, message, data)


@dataclass(frozen=True, slots=True)
class Agent(Generic[OutputT]):
    """An agent definition: the function and its policy."""

    name: str
    fn: Callable[..., Awaitable[OutputT]]
    timeout_s: float | None = None
    retry: RetryPolicy = DEFAULT_RETRY
    breaker: BreakerPolicy | None = None
    concurrency: int | None = None
    output_type: Any = Any
    takes_context: bool = False

    async def invoke(self, ctx: StepContext, data: Any) -> OutputT:
        """Call the function once with the arguments it declares."""
        if self.takes_context:
            return await self.fn(ctx, data)
        return await self.fn(data)


def _describe(fn: Callable[..., Awaitable[Any]]) -> tuple[bool, Any]:
    """Whether `fn` wants a `StepContext` first, and its return annotation."""
    if not inspect.iscoroutinefunction(fn):
        raise ConfigurationError(f"{fn.__qualname__} must be an async function")
    params = list(inspect.signature(fn).parameters.values())
    if len(params) not in (1, 2):
        raise ConfigurationError(
            f"{fn.__qualname__} must take (data) or (ctx, data), not {len(params)} "
            "parameters"
        )
    try:
        hints = get_type_hints(fn)
    except Exception:  # unresolvable forward references: treat as untyped
        hints = {}
    return len(params) == 2, hints.get("return", Any)


def make_agent(
    fn: Callable[..., Awaitable[OutputT]],
    *,
    name: str | None = None,
    timeout_s: float | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    concurrency: int | None = None,
) -> Agent[OutputT]:
    """Build an `Agent` from an async function and its policy."""
    takes_context, output_type = _describe(fn)
    if timeout_s is not None and timeout_s <= 0:
        raise ConfigurationError("timeout_s must be positive")
    return Agent(
        name=name or fn.__name__,
        fn=fn,
        timeout_s=timeout_s,
        retry=retry or DEFAULT_RETRY,
        breaker=breaker,
        concurrency=concurrency,
        output_type=output_type,
        takes_context=takes_context,
    )


@overload
def agent(fn: Callable[..., Awaitable[OutputT]], /) -> Agent[OutputT]: ...


@overload
def agent(
    *,
    name: str | None = None,
    timeout_s: float | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    concurrency: int | None = None,
) -> Callable[[Callable[..., Awaitable[OutputT]]], Agent[OutputT]]: ...


def agent(
    fn: Callable[..., Awaitable[OutputT]] | None = None,
    /,
    *,
    name: str | None = None,
    timeout_s: float | None = None,
    retry: RetryPolicy | None = None,
    breaker: BreakerPolicy | None = None,
    concurrency: int | None = None,
) -> Agent[OutputT] | Callable[[Callable[..., Awaitable[OutputT]]], Agent[OutputT]]:
    """Decorator: turn `async def f(data)` or `async def f(ctx, data)` into an agent."""

    def wrap(inner: Callable[..., Awaitable[OutputT]]) -> Agent[OutputT]:
        return make_agent(
            inner,
            name=name,
            timeout_s=timeout_s,
            retry=retry,
            breaker=breaker,
            concurrency=concurrency,
        )

    return wrap(fn) if fn is not None else wrap


class AgentRuntime:
    """Per-app runtime state of agents: breakers, concurrency limits, jitter source."""

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self.clock = clock
        self.rng = rng or random.Random()
        self.breakers: dict[str, CircuitBreaker] = {}
        self.limits = Limits()

    def breaker_for(self, spec: Agent[Any]) -> CircuitBreaker | None:
        """The breaker of `spec`, created on first use."""
        if spec.breaker is None:
            return None
        found = self.breakers.get(spec.name)
        if found is None:
            found = self.breakers[spec.name] = CircuitBreaker(
                spec.name, spec.breaker, self.clock
            )
        return found

    def configure(self, spec: Agent[Any]) -> None:
        """Set up the concurrency limit of `spec`."""
        if spec.concurrency is not None and self.limits.get(spec.name) is None:
            self.limits.configure(spec.name, spec.concurrency)


async def call_with_policies(
    runtime: AgentRuntime, spec: Agent[OutputT], ctx: StepContext, data: Any
) -> tuple[OutputT, int]:
    """Run `spec` under its policies; return its result and the attempts it took.

    Raises the last attempt's error when attempts run out or the error is not
    retryable (with a note saying how many attempts were made).
    """
    breaker = runtime.breaker_for(spec)
    attempt = 0
    while True:
        attempt += 1
        ctx.attempt = attempt
        ctx.observer.attempt_started(attempt)
        try:
            if breaker is not None:
                breaker.before_call()
            if spec.concurrency is None and spec.timeout_s is None:
                result = await spec.invoke(ctx, data)  # the common, cheapest path
            else:
                async with runtime.limits.slot(spec.name):
                    result = await _invoke_with_timeout(runtime, spec, ctx, data)
        except Exception as error:
            if breaker is not None and not isinstance(error, CircuitOpenError):
                breaker.record_failure()
            retry = spec.retry
            if attempt < retry.max_attempts and retry.is_retryable(error):
                backoff_s = retry.backoff_s(attempt, runtime.rng)
                ctx.observer.attempt_failed(attempt, error, backoff_s)
                await runtime.clock.sleep(backoff_s)
                continue
            ctx.observer.attempt_failed(attempt, error, None)
            error.add_note(
                f"conveyor: {spec.name!r} gave up after {attempt} attempt(s)"
            )
            raise
        if breaker is not None:
            breaker.record_success()
        return result, attempt


async def _invoke_with_timeout(
    runtime: AgentRuntime, spec: Agent[OutputT], ctx: StepContext, data: Any
) -> OutputT:
    try:
        async with clock_timeout(runtime.clock, spec.timeout_s):
            return await spec.invoke(ctx, data)
    except TimeoutError:
        if spec.timeout_s is None:
            raise
        raise AgentTimeoutError(spec.name, spec.timeout_s) from None
