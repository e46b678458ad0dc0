"""`TenantRateLimiter`: how fast each tenant may submit new work at the API edge.

One token bucket per tenant: `rate_per_s` tokens a second, at most `burst` saved
up. A flooding tenant is told to come back later (429 with `Retry-After`) before
its request costs a database write, so the machine's capacity stays shared:
whatever it floods, the other tenants' work is not queued behind its backlog.
The buckets live in the API process; with several API processes, each applies the
rate on its own (the fleet admits up to the rate times the processes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from .settings import Settings

MAX_BUCKETS = 10_000
"""Buckets kept before the full ones (same as none) are dropped."""
_EPSILON = 1e-9


class TenantRateLimiter:
    """Admits at most `rate_per_s` submissions a second per tenant, in bursts of
    up to `burst`."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be positive and burst at least 1")
        self.rate_per_s = rate_per_s
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """tenant → (tokens, when they were counted)."""

    def take(self, tenant: str) -> float:
        """Take one token of `tenant`: 0.0 if it had one, else the seconds until
        it will (nothing is taken then)."""
        now = self._clock()
        tokens = self._tokens(tenant, now)
        if tokens >= 1.0 - _EPSILON:  # a token that is due, despite rounding
            self._buckets[tenant] = (max(0.0, tokens - 1.0), now)
            if len(self._buckets) > MAX_BUCKETS:
                self._drop_full(now)
            return 0.0
        self._buckets[tenant] = (tokens, now)
        return (1.0 - tokens) / self.rate_per_s

    def _tokens(self, tenant: str, now: float) -> float:
        found = self._buckets.get(tenant)
        if found is None:
            return float(self.burst)
        tokens, counted_at = found
        return min(float(self.burst), tokens + (now - counted_at) * self.rate_per_s)

    def _drop_full(self, now: float) -> None:
        for tenant in list(self._buckets):
            if self._tokens(tenant, now) >= self.burst:
                del self._buckets[tenant]


def submission_limiter(settings: Settings) -> TenantRateLimiter | None:
    """The API's limiter of new submissions per tenant, if a rate is set."""
    rate = settings.tenant_submit_rate
    if rate is None:
        return None
    burst = settings.tenant_submit_burst or max(1, math.ceil(rate))
    return TenantRateLimiter(rate, burst)
