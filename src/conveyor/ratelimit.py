"""`TenantRateLimiter`: how fast each tenant may submit new work at the API edge.

Each tenant's submissions are spaced `1 / rate_per_s` apart, after a burst of up to
`burst` at once (the generic cell rate algorithm: one "theoretical arrival time"
per tenant). A submission over the rate is *held* until its slot comes, so a
flooding client is slowed by its own requests' latency instead of retrying in a
storm; one whose slot is more than `max_wait_s` away is refused (429 with
`Retry-After`) without taking a slot. Either way the flood costs no database
write beyond its rate, so the machine's capacity stays shared: whatever one
tenant floods, the others' work is not queued behind its backlog.

The state lives in the API process; with several API processes, each applies
the rate on its own (the fleet admits up to the rate times the processes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from .settings import Settings

MAX_TENANTS = 10_000
"""Tenants tracked before those with nothing reserved (same as none) are dropped."""


@dataclass(frozen=True, slots=True)
class Slot:
    """The outcome of asking for a submission slot."""

    admitted: bool
    wait_s: float
    """Admitted: how long to hold the submission until its slot. Refused: how
    long until a slot is free."""


class TenantRateLimiter:
    """Admits at most `rate_per_s` submissions a second per tenant, after bursts
    of up to `burst`, holding those over the rate up to `max_wait_s`."""

    def __init__(
        self,
        rate_per_s: float,
        burst: int,
        max_wait_s: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate_per_s <= 0 or burst < 1 or max_wait_s < 0:
            raise ValueError(
                "rate_per_s must be positive, burst at least 1, max_wait_s >= 0"
            )
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.max_wait_s = max_wait_s
        self._interval = 1.0 / rate_per_s
        self._tolerance = (burst - 1) * self._interval
        self._clock = clock
        self._due: dict[str, float] = {}
        """tenant → when its next submission would be on time at the rate."""

    def reserve(self, tenant: str) -> Slot:
        """Take the tenant's next slot if it comes within `max_wait_s`."""
        now = self._clock()
        due = max(self._due.get(tenant, now), now)
        wait_s = due - self._tolerance - now
        if wait_s > self.max_wait_s:
            return Slot(admitted=False, wait_s=wait_s - self.max_wait_s)
        self._due[tenant] = due + self._interval
        if len(self._due) > MAX_TENANTS:
            self._forget_idle(now)
        return Slot(admitted=True, wait_s=max(0.0, wait_s))

    def _forget_idle(self, now: float) -> None:
        for tenant, due in list(self._due.items()):
            if due <= now:
                del self._due[tenant]


def submission_limiter(settings: Settings) -> TenantRateLimiter | None:
    """The API's limiter of new submissions per tenant, if a rate is set."""
    rate = settings.tenant_submit_rate
    if rate is None:
        return None
    burst = settings.tenant_submit_burst or max(1, math.ceil(rate))
    return TenantRateLimiter(rate, burst, settings.tenant_submit_wait_s)
