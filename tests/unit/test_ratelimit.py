"""`TenantRateLimiter`: a token bucket per tenant — a burst, then the rate, and
how long to wait when over it."""

from __future__ import annotations

import pytest

from conveyor.ratelimit import MAX_BUCKETS, TenantRateLimiter, submission_limiter
from conveyor.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_then_the_rate() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=10, burst=3, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(0.1), "one token comes in 0.1 s"
    clock.now += 0.05
    assert limiter.take("a") == pytest.approx(0.05), "a refusal takes nothing"
    clock.now += 0.05
    assert limiter.take("a") == 0.0
    assert limiter.take("a") == pytest.approx(0.1)


def test_tenants_have_their_own_buckets() -> None:
    limiter = TenantRateLimiter(rate_per_s=1, burst=1, clock=Clock())
    assert limiter.take("flood") == 0.0
    assert limiter.take("flood") > 0
    assert limiter.take("quiet") == 0.0, "another tenant's flood costs nothing"


def test_savings_are_capped_at_the_burst() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=100, burst=2, clock=clock)
    limiter.take("a")
    clock.now += 3600
    assert [limiter.take("a") for _ in range(3)][2] > 0, "only 2 saved up"


def test_full_buckets_are_dropped_past_the_bound() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=1, burst=1, clock=clock)
    for n in range(MAX_BUCKETS):
        limiter.take(f"t{n}")
    clock.now += 2  # every bucket is full again
    limiter.take("last")
    assert len(limiter._buckets) == 1


def test_settings_make_the_limiter() -> None:
    assert submission_limiter(Settings()) is None
    limiter = submission_limiter(Settings(tenant_submit_rate=2.5))
    assert limiter is not None and (limiter.rate_per_s, limiter.burst) == (2.5, 3)
    limiter = submission_limiter(
        Settings(tenant_submit_rate=2.5, tenant_submit_burst=10)
    )
    assert limiter is not None and limiter.burst == 10
    with pytest.raises(ValueError, match="burst"):
        TenantRateLimiter(rate_per_s=1, burst=0)
