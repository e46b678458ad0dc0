"""Text normalisation and date finding for the rule-based extractor.

Kept apart from the parameter rules so each file reads on its own: this one knows
English numbers and calendar dates, `rules` knows what planners say about seasons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_UNITS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60,
         "seventy": 70, "eighty": 80, "ninety": 90}  # fmt: skip
_NUMBER_WORD = re.compile(
    rf"\b(?:(?P<tens>{'|'.join(_TENS)})(?:[\s-](?P<unit>{'|'.join(_UNITS[1:10])}))?"
    rf"|(?P<small>{'|'.join(_UNITS)}))\b"
)
_MONTHS = {
    "january": 1, "jan": 1, "february": 2, "feb": 2, "march": 3, "mar": 3,
    "april": 4, "apr": 4, "may": 5, "june": 6, "jun": 6, "july": 7, "jul": 7,
    "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9, "october": 10,
    "oct": 10, "november": 11, "nov": 11, "december": 12, "dec": 12,
}  # fmt: skip
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ORDINAL = r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,?\s+(?P<{}>\d{{4}})\b)?"
_DATE = re.compile(
    r"\b(?P<iso_y>\d{4})[-/.](?P<iso_m>\d{1,2})[-/.](?P<iso_d>\d{1,2})\b"
    rf"|\b(?P<mf_m>{_MONTH})\.?\s+(?P<mf_d>\d{{1,2}}){_ORDINAL}\b"
    + _YEAR.format("mf_y")
    + rf"|\b(?P<df_d>\d{{1,2}}){_ORDINAL}\s+(?:of\s+)?(?P<df_m>{_MONTH})\b\.?"
    + _YEAR.format("df_y")
)


@dataclass(frozen=True, slots=True)
class FoundDate:
    """A calendar date found in the text, with its character span."""

    value: date
    start: int
    end: int


def normalise(text: str) -> str:
    """Lower-case, unify dashes and spell numbers in digits ("twenty-six" → "26")."""
    lowered = re.sub(r"[\u2010-\u2015]", "-", text.lower())
    return _NUMBER_WORD.sub(_number_to_digits, lowered)


def _number_to_digits(match: re.Match[str]) -> str:
    if match["small"]:
        return str(_UNITS.index(match["small"]))
    unit = match["unit"]
    return str(_TENS[match["tens"]] + (_UNITS.index(unit) if unit else 0))


def find_dates(text: str) -> list[FoundDate]:
    """Every valid date in normalised `text`, in order of appearance.

    Understands ISO (2025-03-01), "March 1st, 2025" and "1 March 2025". A date
    without a year borrows it from the nearest later dated mention ("from 1 March
    to 23 May 2025"), or the earlier one, moving a year on if the month wraps.
    Impossible dates (30 February) are ignored.
    """
    raw: list[tuple[int | None, int, int, int, int]] = []
    year: int | None
    for match in _DATE.finditer(text):
        if match["iso_y"]:
            year, month, day = (
                int(match["iso_y"]),
                int(match["iso_m"]),
                int(match["iso_d"]),
            )
        elif match["mf_m"]:
            year = int(match["mf_y"]) if match["mf_y"] else None
            month, day = _MONTHS[match["mf_m"]], int(match["mf_d"])
        else:
            year = int(match["df_y"]) if match["df_y"] else None
            month, day = _MONTHS[match["df_m"]], int(match["df_d"])
        raw.append((year, month, day, match.start(), match.end()))
    found: list[FoundDate] = []
    for index, (year, month, day, start, end) in enumerate(raw):
        resolved = year if year is not None else _borrow_year(raw, index)
        if resolved is None:
            continue
        try:
            found.append(FoundDate(date(resolved, month, day), start, end))
        except ValueError:
            continue
    return found


def _borrow_year(
    raw: list[tuple[int | None, int, int, int, int]], index: int
) -> int | None:
    month = raw[index][1]
    for year, later_month, *_ in raw[index + 1 :]:
        if year is not None:
            return year if month <= later_month else year - 1
    for year, earlier_month, *_ in reversed(raw[:index]):
        if year is not None:
            return year if month >= earlier_month else year + 1
    return None


def mask(text: str, spans: list[tuple[int, int]]) -> str:
    """`text` with each span replaced by spaces, so positions stay valid."""
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)
