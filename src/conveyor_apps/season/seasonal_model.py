"""A small harmonic-regression forecaster: log-linear trend, yearly cycle, holidays.

log(1 + y_t) = a + b·t + Σₖ (cₖ cos 2πkt/P + sₖ sin 2πkt/P) + h·holiday_t + ε,
fitted by ordinary least squares, t in weeks since the first history week. With one
year of history, a linear trend is confounded with any year-end peak the smooth
Fourier profile cannot follow, so the peak-trading weeks get their own regressor.
Predictions undo the log with Duan's smearing factor to estimate the mean rather
than the median. Pure Python: the systems are at most a dozen columns wide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

WEEKS_PER_YEAR = 52.0
MIN_HISTORY_WEEKS = 3
HOLIDAY_FIRST_DAY = (11, 15)  # (month, day): weeks starting in this range trade at
HOLIDAY_LAST_DAY = (12, 21)  # the Black Friday-to-Christmas peak


def is_holiday_week(week_start: date) -> bool:
    """Whether the week starting `week_start` is in the year-end peak."""
    return HOLIDAY_FIRST_DAY <= (week_start.month, week_start.day) <= HOLIDAY_LAST_DAY


@dataclass(frozen=True, slots=True)
class SeasonalTrendModel:
    """Fitted coefficients of the log-linear harmonic model."""

    origin: date
    intercept: float
    slope_per_week: float
    harmonics: tuple[tuple[float, float], ...]  # (cos, sin) coefficient pairs
    holiday_effect: float
    period_weeks: float
    time_offset: float  # mean time of the history, subtracted for conditioning
    smearing: float

    def log_level(self, week_start: date) -> float:
        """Fitted log(1 + units) for the week starting `week_start`."""
        week = (week_start - self.origin).days / 7
        value = self.intercept + self.slope_per_week * (week - self.time_offset)
        for order, (cos_coef, sin_coef) in enumerate(self.harmonics, start=1):
            angle = 2 * math.pi * order * week / self.period_weeks
            value += cos_coef * math.cos(angle) + sin_coef * math.sin(angle)
        if is_holiday_week(week_start):
            value += self.holiday_effect
        return value

    def predict(self, week_start: date) -> float:
        """Expected units for the week starting `week_start`, never negative."""
        return max(0.0, math.exp(self.log_level(week_start)) * self.smearing - 1.0)


def fit_seasonal_trend(
    week_starts: Sequence[date],
    units: Sequence[float],
    *,
    harmonics: int = 3,
    period_weeks: float = WEEKS_PER_YEAR,
) -> SeasonalTrendModel:
    """Fit the model to weekly values.

    Args:
        week_starts: First day of each history week, oldest first.
        units: Units sold in each of those weeks, all non-negative.
        harmonics: Fourier pairs to fit; fewer are used when history is short.
        period_weeks: Length of the seasonal cycle.

    Raises:
        ValueError: if there are fewer than three weeks, the lengths differ, a value
            is negative, or the history cannot identify the model.
    """
    if len(week_starts) != len(units):
        raise ValueError(f"{len(week_starts)} weeks but {len(units)} values")
    if len(units) < MIN_HISTORY_WEEKS:
        raise ValueError(
            f"need at least {MIN_HISTORY_WEEKS} weeks of history, got {len(units)}"
        )
    if any(value < 0 for value in units):
        raise ValueError("weekly units must be non-negative")
    origin = week_starts[0]
    times = [(start - origin).days / 7 for start in week_starts]
    holidays = [is_holiday_week(start) for start in week_starts]
    use_holiday = any(holidays) and not all(holidays)
    spare = len(units) - MIN_HISTORY_WEEKS - int(use_holiday)
    orders = max(0, min(harmonics, spare // 2))
    offset = math.fsum(times) / len(times)
    rows = [
        _design_row(week, offset, orders, period_weeks, holiday, use_holiday)
        for week, holiday in zip(times, holidays, strict=True)
    ]
    targets = [math.log1p(value) for value in units]
    coefficients = _least_squares(rows, targets)
    residuals = [
        target - math.fsum(c * x for c, x in zip(coefficients, row, strict=True))
        for row, target in zip(rows, targets, strict=True)
    ]
    return SeasonalTrendModel(
        origin=origin,
        intercept=coefficients[0],
        slope_per_week=coefficients[1],
        harmonics=tuple(
            (coefficients[2 + 2 * k], coefficients[3 + 2 * k]) for k in range(orders)
        ),
        holiday_effect=coefficients[-1] if use_holiday else 0.0,
        period_weeks=period_weeks,
        time_offset=offset,
        smearing=math.fsum(math.exp(r) for r in residuals) / len(residuals),
    )


def _design_row(
    week: float,
    offset: float,
    orders: int,
    period: float,
    holiday: bool,
    use_holiday: bool,
) -> list[float]:
    row = [1.0, week - offset]
    for order in range(1, orders + 1):
        angle = 2 * math.pi * order * week / period
        row.extend((math.cos(angle), math.sin(angle)))
    if use_holiday:
        row.append(1.0 if holiday else 0.0)
    return row


def _least_squares(
    rows: Sequence[Sequence[float]], targets: Sequence[float]
) -> list[float]:
    """Solve the normal equations XᵀX β = Xᵀy by Gaussian elimination."""
    width = len(rows[0])
    augmented = [
        [math.fsum(row[i] * row[j] for row in rows) for j in range(width)]
        + [math.fsum(row[i] * y for row, y in zip(rows, targets, strict=True))]
        for i in range(width)
    ]
    for col in range(width):
        pivot = max(range(col, width), key=lambda r: abs(augmented[r][col]))
        if abs(augmented[pivot][col]) < 1e-9:
            raise ValueError("history is degenerate; the model cannot be fitted")
        augmented[col], augmented[pivot] = augmented[pivot], augmented[col]
        for r in range(col + 1, width):
            factor = augmented[r][col] / augmented[col][col]
            for c in range(col, width + 1):
                augmented[r][c] -= factor * augmented[col][c]
    solution = [0.0] * width
    for r in reversed(range(width)):
        tail = math.fsum(augmented[r][c] * solution[c] for c in range(r + 1, width))
        solution[r] = (augmented[r][width] - tail) / augmented[r][r]
    return solution
