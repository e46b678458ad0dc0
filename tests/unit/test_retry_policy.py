"""RetryPolicy: capped exponential backoff with bounded jitter, and which errors
are worth another attempt."""

from __future__ import annotations

import random

import pytest

from conveyor import CircuitOpenError, ConfigurationError, RetryPolicy


def test_backoff_grows_exponentially_without_jitter():
    """Without jitter the delay starts at initial_backoff_s and multiplies."""
    policy = RetryPolicy(initial_backoff_s=0.5, multiplier=3.0, jitter=0.0)
    delays = [policy.backoff_s(attempt, random.Random(0)) for attempt in (1, 2, 3, 4)]
    assert delays == pytest.approx([0.5, 1.5, 4.5, 13.5]), f"got {delays}"


@pytest.mark.parametrize("attempt", [8, 50, 10_000])
def test_backoff_is_capped(attempt: int):
    """However many attempts failed, the delay never exceeds max_backoff_s."""
    policy = RetryPolicy(max_attempts=20_000, max_backoff_s=10.0, jitter=0.0)
    delay = policy.backoff_s(attempt, random.Random(0))
    assert delay == 10.0, f"expected the 10 s cap at attempt {attempt}, got {delay}"


def test_jitter_stays_within_bounds():
    """Jitter spreads the delay by at most ±jitter of it, and never past the cap."""
    policy = RetryPolicy(initial_backoff_s=1.0, max_backoff_s=4.0, jitter=0.25)
    rng = random.Random(7)
    below_cap = [policy.backoff_s(2, rng) for _ in range(2000)]
    assert 1.5 <= min(below_cap) < 1.6, f"expected lows near 1.5, got {min(below_cap)}"
    assert 2.4 < max(below_cap) <= 2.5, f"expected highs near 2.5, got {max(below_cap)}"
    at_cap = [policy.backoff_s(10, rng) for _ in range(2000)]
    assert 3.0 <= min(at_cap) and max(at_cap) <= 4.0, (
        f"expected delays in [3, 4] at the cap, got {min(at_cap)}..{max(at_cap)}"
    )


class PermanentError(Exception):
    """An error that says no retry can fix it."""

    retryable = False


@pytest.mark.parametrize(
    ("policy", "error", "expected"),
    [
        (RetryPolicy(), ValueError("x"), True),
        (RetryPolicy(retry_on=(ValueError,)), ValueError("x"), True),
        (RetryPolicy(retry_on=(ValueError,)), TypeError("x"), False),
        (RetryPolicy(dont_retry_on=(KeyError,)), KeyError("x"), False),
        (RetryPolicy(dont_retry_on=(LookupError,)), KeyError("x"), False),
        (RetryPolicy(), PermanentError("x"), False),
        (RetryPolicy(), CircuitOpenError("agent", 1.0), False),
    ],
    ids=["default", "listed", "unlisted", "excluded", "excluded-base",
         "retryable-false", "circuit-open"],
)  # fmt: skip
def test_retryable_filter(policy: RetryPolicy, error: Exception, expected: bool):
    """An error is retried when it matches retry_on, not dont_retry_on, and does
    not carry retryable = False."""
    got = policy.is_retryable(error)
    assert got is expected, f"expected is_retryable={expected} for {error!r}"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"max_attempts": 0}, "max_attempts"),
        ({"initial_backoff_s": -1.0}, "backoff"),
        ({"max_backoff_s": -1.0}, "backoff"),
        ({"jitter": 1.5}, "jitter"),
    ],
)
def test_invalid_policy_refused(kwargs: dict[str, float], problem: str):
    """A nonsensical policy is refused with a ConfigurationError naming the field."""
    with pytest.raises(ConfigurationError, match=problem):
        RetryPolicy(**kwargs)
