"""What to do when a step is slow or fails: retry, circuit breaker, concurrency limits.

Policies are plain configuration values; the runtime state they need (a breaker's
failure count, a limit's slots) lives in small objects owned by one `Conveyor` app.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum

from .clock import Clock
from .errors import CircuitOpenError, ConfigurationError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries with capped exponential backoff and jitter.

    An exception is retried when it is an instance of `retry_on`, not of
    `dont_retry_on`, and does not carry `retryable = False` (the error itself may say
    it is permanent). `max_attempts` counts the first attempt.
    """

    max_attempts: int = 5
    initial_backoff_s: float = 0.1
    max_backoff_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    dont_retry_on: tuple[type[BaseException], ...] = ()

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("max_attempts must be at least 1")
        if self.initial_backoff_s < 0 or self.max_backoff_s < 0:
            raise ConfigurationError("backoff must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ConfigurationError("jitter must be between 0 and 1")

    def is_retryable(self, error: BaseException) -> bool:
        """Whether another attempt may fix `error`."""
        if getattr(error, "retryable", True) is False:
            return False
        if isinstance(error, self.dont_retry_on):
            return False
        return isinstance(error, self.retry_on)

    def backoff_s(self, attempt: int, rng: random.Random) -> float:
        """Delay before attempt `attempt + 1`, after attempt `attempt` failed."""
        try:
            base = self.initial_backoff_s * self.multiplier ** max(0, attempt - 1)
        except OverflowError:  # a long-retrying policy is simply at its cap
            base = self.max_backoff_s
        capped = min(self.max_backoff_s, base)
        spread = capped * self.jitter
        return min(self.max_backoff_s, max(0.0, capped + rng.uniform(-spread, spread)))


NO_RETRY = RetryPolicy(max_attempts=1)


class BreakerState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Open after `failure_threshold` failures in a row; probe after a cool-down."""

    failure_threshold: int = 5
    reset_timeout_s: float = 30.0
    half_open_max_calls: int = 1


@dataclass(slots=True)
class CircuitBreaker:
    """closed → open after N consecutive failures → half-open after a cool-down →
    closed on a successful probe (or open again on a failed one)."""

    name: str
    policy: BreakerPolicy
    clock: Clock
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    probes_in_flight: int = 0

    def before_call(self) -> None:
        """Admit a call or raise `CircuitOpenError`."""
        if self.state is BreakerState.OPEN:
            waited = self.clock.now() - self.opened_at
            if waited < self.policy.reset_timeout_s:
                raise CircuitOpenError(self.name, self.policy.reset_timeout_s - waited)
            self.state = BreakerState.HALF_OPEN
            self.probes_in_flight = 0
        if self.state is BreakerState.HALF_OPEN:
            if self.probes_in_flight >= self.policy.half_open_max_calls:
                raise CircuitOpenError(self.name, 0.0)
            self.probes_in_flight += 1

    def record_success(self) -> None:
        """A call succeeded: close the circuit."""
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.probes_in_flight = 0

    def record_failure(self) -> None:
        """A call failed: count it, and open the circuit at the threshold."""
        self.failures += 1
        if (
            self.state is BreakerState.HALF_OPEN
            or self.failures >= self.policy.failure_threshold
        ):
            self.state = BreakerState.OPEN
            self.opened_at = self.clock.now()
            self.probes_in_flight = 0

    def reset(self) -> None:
        """Close the circuit by hand (an admin operation)."""
        self.record_success()


@dataclass(slots=True)
class ConcurrencyLimit:
    """At most `limit` holders at once; `in_use` lets tests check slots are released."""

    limit: int
    in_use: int = 0
    _semaphore: asyncio.Semaphore = field(init=False)

    def __post_init__(self) -> None:
        if self.limit < 1:
            raise ConfigurationError("a concurrency limit must be at least 1")
        self._semaphore = asyncio.Semaphore(self.limit)

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one slot for the duration of the block, released on every exit path."""
        async with self._semaphore:
            self.in_use += 1
            try:
                yield
            finally:
                self.in_use -= 1


class Limits:
    """Named concurrency limits created on first use (per agent, per tenant)."""

    def __init__(self, default_limit: int | None = None) -> None:
        self._default = default_limit
        self._limits: dict[str, ConcurrencyLimit] = {}

    def configure(self, name: str, limit: int) -> None:
        """Set the limit for `name`."""
        self._limits[name] = ConcurrencyLimit(limit)

    def get(self, name: str) -> ConcurrencyLimit | None:
        """The limit for `name`, or None when unlimited."""
        found = self._limits.get(name)
        if found is None and self._default is not None:
            found = self._limits[name] = ConcurrencyLimit(self._default)
        return found

    def in_use(self) -> dict[str, int]:
        """Slots held per name (an invariant: all zero when idle)."""
        return {name: limit.in_use for name, limit in self._limits.items()}

    @contextlib.asynccontextmanager
    async def slot(self, name: str) -> AsyncIterator[None]:
        """Hold a slot of `name`'s limit, or nothing if `name` is unlimited."""
        limit = self.get(name)
        if limit is None:
            yield
            return
        async with limit.slot():
            yield
