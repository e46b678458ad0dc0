"""Half-up products and exact largest-remainder apportionment."""

from __future__ import annotations

import math

import pytest

from conveyor_apps.season.rounding import apportion, round_half_up


@pytest.mark.parametrize(
    ("quantity", "factor", "expected"),
    [(8000, 1.25, 10000), (8000, 1.22, 9760), (8000, 1.2, 9600), (9760, 0.6, 5856),
     (1, 2.5, 3), (5, 0.5, 3), (7, 0.0, 0)],
)  # fmt: skip
def test_round_half_up(quantity: int, factor: float, expected: int) -> None:
    """Products round half up in decimal, not banker's rounding on binary floats."""
    assert round_half_up(quantity, factor) == expected


def test_apportion_sums_exactly() -> None:
    """Parts add up to the total and follow the weights."""
    parts = apportion(10000, [0.242, 0.501, 0.257])
    assert sum(parts) == 10000
    assert parts == [2420, 5010, 2570]


def test_apportion_ties_go_to_earlier_index() -> None:
    """Equal remainders favour the first weights, deterministically."""
    assert apportion(2, [1, 1, 1]) == [1, 1, 0]


def test_apportion_zero_weights_split_evenly() -> None:
    """All-zero weights split the total evenly."""
    assert apportion(7, [0, 0, 0]) == [3, 2, 2]


@pytest.mark.parametrize(
    ("total", "weights"), [(5, []), (-1, [1.0]), (5, [1.0, -2.0]), (5, [math.nan])]
)
def test_apportion_rejects_bad_input(total: int, weights: list[float]) -> None:
    """Empty, negative or NaN inputs are a ValueError."""
    with pytest.raises(ValueError, match="apportion needs"):
        apportion(total, weights)
