"""Number words, dates and masking used by the rule-based extractor."""

from __future__ import annotations

from datetime import date

import pytest

from conveyor_apps.season.extraction.phrases import find_dates, mask, normalise


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Twenty-Six weeks", "26 weeks"), ("twelve wks", "12 wks"),
     ("fifty two", "52"), ("sixty percent", "60 percent"), ("none", "none"),
     ("one\u2013time buy", "1-time buy")],
)  # fmt: skip
def test_normalise(text: str, expected: str) -> None:
    """Lower-cases, unifies dashes and spells numbers in digits."""
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-09-01", [date(2025, 9, 1)]),
        ("2025/9/1", [date(2025, 9, 1)]),
        ("march 1st, 2025", [date(2025, 3, 1)]),
        ("sept. 3 2025", [date(2025, 9, 3)]),
        ("15th of may 2025", [date(2025, 5, 15)]),
        ("1 march to 23 may 2025", [date(2025, 3, 1), date(2025, 5, 23)]),
        ("1 december to 15 january 2026", [date(2025, 12, 1), date(2026, 1, 15)]),
        ("from 2025-11-01 to 15 january", [date(2025, 11, 1), date(2026, 1, 15)]),
        ("from 2025-03-01 to 23 may", [date(2025, 3, 1), date(2025, 5, 23)]),
        (
            "1 march, 2 march, 3 may 2025",
            [date(2025, 3, 1), date(2025, 3, 2), date(2025, 5, 3)],
        ),
        (
            "2025-03-01, 2 march, 3 march",
            [date(2025, 3, 1), date(2025, 3, 2), date(2025, 3, 3)],
        ),
        ("march 1", []),
        ("30 february 2025", []),
    ],
)
def test_find_dates(text: str, expected: list[date]) -> None:
    """Finds ISO, month-first and day-first dates, borrowing missing years."""
    assert [found.value for found in find_dates(text)] == expected


def test_found_dates_carry_spans() -> None:
    """Each found date records where it sits in the text."""
    (found,) = find_dates("start 2025-03-01 now")
    assert (found.start, found.end) == (6, 16)


def test_mask_keeps_positions() -> None:
    """Masked spans become spaces of the same length."""
    assert mask("abcdef", [(1, 3)]) == "a  def"
