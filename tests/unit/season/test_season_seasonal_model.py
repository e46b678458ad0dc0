"""The harmonic-regression forecaster recovers known structure."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from conveyor_apps.season.seasonal_model import (
    _least_squares,
    fit_seasonal_trend,
    is_holiday_week,
)

ORIGIN = date(2024, 1, 1)
WEEKS = [ORIGIN + timedelta(weeks=w) for w in range(52)]


def synthetic(week_start: date) -> float:
    """Noise-free units: log-linear trend, one harmonic, 20% holiday lift."""
    week = (week_start - ORIGIN).days / 7
    log_level = 6.0 + 0.004 * week + 0.5 * math.cos(2 * math.pi * (week - 26) / 52)
    return math.expm1(log_level + (math.log(1.2) if is_holiday_week(week_start) else 0))


def test_recovers_trend_and_holiday() -> None:
    """On noise-free data the slope and holiday lift are recovered exactly."""
    model = fit_seasonal_trend(WEEKS, [synthetic(w) for w in WEEKS])
    assert model.slope_per_week == pytest.approx(0.004, abs=1e-9)
    assert model.holiday_effect == pytest.approx(math.log(1.2), abs=1e-9)
    assert model.smearing == pytest.approx(1.0, abs=1e-12)


def test_extrapolates_a_year_ahead() -> None:
    """Predictions beyond the history follow the true process."""
    model = fit_seasonal_trend(WEEKS, [synthetic(w) for w in WEEKS])
    for weeks_ahead in (52, 60, 99):
        future = ORIGIN + timedelta(weeks=weeks_ahead)
        assert model.predict(future) == pytest.approx(synthetic(future), rel=1e-6)


def test_short_history_uses_fewer_harmonics() -> None:
    """Five weeks fit one harmonic pair and no holiday term."""
    weeks = WEEKS[:5]
    model = fit_seasonal_trend(weeks, [10, 12, 11, 13, 12])
    assert len(model.harmonics) == 1
    assert model.holiday_effect == 0.0
    assert model.predict(weeks[0]) >= 0


@pytest.mark.parametrize(
    ("weeks", "units", "message"),
    [
        (WEEKS[:2], [1, 2], "at least 3 weeks"),
        (WEEKS[:3], [1, -2, 3], "non-negative"),
        (WEEKS[:3], [1, 2], "3 weeks but 2 values"),
    ],
)
def test_rejects_unusable_history(
    weeks: list[date], units: list[float], message: str
) -> None:
    """Too little, negative or misaligned history is a ValueError."""
    with pytest.raises(ValueError, match=message):
        fit_seasonal_trend(weeks, units)


def test_degenerate_system_raises() -> None:
    """Collinear regressors are reported rather than divided by zero."""
    with pytest.raises(ValueError, match="degenerate"):
        _least_squares([[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]], [1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2024, 11, 14), False), (date(2024, 11, 15), True),
     (date(2024, 12, 21), True), (date(2024, 12, 22), False)],
)  # fmt: skip
def test_holiday_window(day: date, expected: bool) -> None:
    """Peak trading runs from 15 November to 21 December inclusive."""
    assert is_holiday_week(day) is expected
