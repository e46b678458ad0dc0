"""`TenantRateLimiter`: per tenant, a burst at once, then one slot every
`1 / rate`; submissions over the rate are held for their slot up to
`max_wait_s`, beyond it refused without taking one."""

from __future__ import annotations

import pytest

from conveyor.ratelimit import MAX_TENANTS, TenantRateLimiter, submission_limiter
from conveyor.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def waits(limiter: TenantRateLimiter, tenant: str, count: int) -> list[float]:
    slots = [limiter.reserve(tenant) for _ in range(count)]
    assert all(slot.admitted for slot in slots), slots
    return [round(slot.wait_s, 6) for slot in slots]


def test_a_burst_then_slots_spaced_at_the_rate() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=10, burst=3, max_wait_s=1.0, clock=clock)
    assert waits(limiter, "a", 6) == [0, 0, 0, 0.1, 0.2, 0.3]
    clock.now += 0.35  # the held ones went; the next slot is 0.05 s away
    assert waits(limiter, "a", 1) == [0.05]


def test_a_slot_too_far_away_is_refused_without_taking_it() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=10, burst=1, max_wait_s=0.25, clock=clock)
    assert waits(limiter, "a", 3) == [0, 0.1, 0.2]
    refused = limiter.reserve("a")
    assert not refused.admitted and refused.wait_s == pytest.approx(0.05)
    assert limiter.reserve("a") == refused, "a refusal reserves nothing"
    clock.now += 0.05
    assert waits(limiter, "a", 1) == [0.25]


def test_without_waiting_over_the_rate_is_refused_at_once() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=2, burst=2, clock=clock)
    assert waits(limiter, "a", 2) == [0, 0]
    refused = limiter.reserve("a")
    assert not refused.admitted and refused.wait_s == pytest.approx(0.5)


def test_tenants_have_their_own_slots() -> None:
    limiter = TenantRateLimiter(rate_per_s=1, burst=1, clock=Clock())
    assert limiter.reserve("flood").admitted
    assert not limiter.reserve("flood").admitted
    assert limiter.reserve("quiet").admitted, "another tenant's flood costs nothing"


def test_idle_time_saves_up_no_more_than_the_burst() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=100, burst=2, max_wait_s=1, clock=clock)
    limiter.reserve("a")
    clock.now += 3600
    assert waits(limiter, "a", 3) == [0, 0, 0.01]


def test_idle_tenants_are_forgotten_past_the_bound() -> None:
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=1, burst=1, clock=clock)
    for n in range(MAX_TENANTS):
        limiter.reserve(f"t{n}")
    clock.now += 2  # nothing reserved any more
    limiter.reserve("last")
    assert len(limiter._due) == 1


def test_settings_make_the_limiter() -> None:
    assert submission_limiter(Settings()) is None
    limiter = submission_limiter(Settings(tenant_submit_rate=2.5))
    assert limiter is not None
    assert (limiter.rate_per_s, limiter.burst, limiter.max_wait_s) == (2.5, 3, 10.0)
    limiter = submission_limiter(
        Settings(tenant_submit_rate=2.5, tenant_submit_burst=10, tenant_submit_wait_s=0)
    )
    assert limiter is not None and (limiter.burst, limiter.max_wait_s) == (10, 0)
    with pytest.raises(ValueError, match="burst"):
        TenantRateLimiter(rate_per_s=1, burst=0)
