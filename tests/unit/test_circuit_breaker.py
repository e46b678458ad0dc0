"""CircuitBreaker: closed → open after N failures in a row → half-open after the
cool-down → closed on a successful probe, driven by a hand-moved clock."""

from __future__ import annotations

import pytest

from conveyor import BreakerPolicy, CircuitOpenError
from conveyor.policies import BreakerState, CircuitBreaker
from conveyor.testing import VirtualClock


@pytest.fixture(name="clock")
def fixture_clock() -> VirtualClock:
    """A clock that moves only when told."""
    return VirtualClock(autojump=False)


@pytest.fixture(name="breaker")
def fixture_breaker(clock: VirtualClock) -> CircuitBreaker:
    """A breaker opening after 3 failures, probing after 10 s."""
    return CircuitBreaker(
        "llm", BreakerPolicy(failure_threshold=3, reset_timeout_s=10.0), clock
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    """Record `times` failed calls."""
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_threshold_failures_in_a_row(breaker: CircuitBreaker):
    """Failures below the threshold keep it closed; a success resets the count;
    the threshold-th failure in a row opens it."""
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)
    assert breaker.state is BreakerState.CLOSED, f"got {breaker.state}"
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN, f"got {breaker.state}"


def test_open_refuses_until_cool_down(breaker: CircuitBreaker, clock: VirtualClock):
    """An open breaker refuses calls, saying how long is left of the cool-down."""
    fail(breaker, 3)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_s == pytest.approx(10.0), f"got {caught.value}"
    clock.advance(6)
    with pytest.raises(CircuitOpenError) as caught:
        breaker.before_call()
    assert caught.value.retry_after_s == pytest.approx(4.0), f"got {caught.value}"


def test_half_open_admits_one_probe_then_closes(
    breaker: CircuitBreaker, clock: VirtualClock
):
    """After the cool-down one probe goes through (others are refused); its success
    closes the breaker."""
    fail(breaker, 3)
    clock.advance(10)
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN, f"got {breaker.state}"
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    breaker.record_success()
    state = (breaker.state, breaker.failures)
    assert state == (BreakerState.CLOSED, 0), f"expected closed, no failures: {state}"
    breaker.before_call()  # admitted again


def test_failed_probe_reopens(breaker: CircuitBreaker, clock: VirtualClock):
    """A failed probe opens the breaker again for a whole new cool-down."""
    fail(breaker, 3)
    clock.advance(10)
    fail(breaker, 1)
    assert breaker.state is BreakerState.OPEN, f"got {breaker.state}"
    clock.advance(9)
    with pytest.raises(CircuitOpenError):
        breaker.before_call()
    clock.advance(1)
    breaker.before_call()
    assert breaker.state is BreakerState.HALF_OPEN, f"got {breaker.state}"


def test_reset_closes_by_hand(breaker: CircuitBreaker):
    """reset() closes an open breaker at once."""
    fail(breaker, 3)
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED, f"got {breaker.state}"
    breaker.before_call()
