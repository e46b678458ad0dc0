"""The offline, deterministic extractor: regular expressions over planners' phrasing.

It reads the horizon ("12-week", "26 weeks", "twenty-four weeks"), the dates ("from
15 May 2025", "beginning 2025-09-01", "to 23 May 2025"), the replenishment ("no
replenishment", "weekly", "every two weeks", "fortnightly") and the DC holdback
("nothing held back", "45% DC holdback", "hold back 60 percent", "holdback 0.6").
"""

from __future__ import annotations

import re
from typing import Literal

from ..parameters import ReplenishmentStrategy, SeasonParameters
from .base import ExtractedFields
from .phrases import find_dates, mask, normalise

_HORIZON = re.compile(r"\b(\d{1,4})\s*-?\s*(?:weeks?|wks?)\b")
_HORIZON_LABEL = re.compile(r"\bhorizon\s*(?:of|:|=|is)?\s*(\d{1,4})\b(?!\s*%)")
_NOT_A_HORIZON = re.compile(r"(?:every|each|per|other|after|before)\s*$")
_START_WORD = r"start\w*|begin\w*|from|commenc\w*|launch\w*|kick\w*\s+off|open\w*"
_END_WORD = r"end\w*|until|till|through|thru|to|finish\w*|clos\w*|conclud\w*"
_DATE_LABEL = re.compile(rf"\b(?:(?P<start>{_START_WORD})|(?P<end>{_END_WORD}))\b")

_REPLENISH_WORD = r"replen\w*|restock\w*|re-?order\w*|top[- ]?ups?|refill\w*"
_REPLENISHMENT: tuple[tuple[ReplenishmentStrategy, re.Pattern[str]], ...] = (
    (
        "none",
        re.compile(
            rf"\bno\s+(?:in[- ]season\s+|further\s+)?(?:{_REPLENISH_WORD})"
            rf"|\b(?:without|never)\s+(?:any\s+)?(?:{_REPLENISH_WORD})"
            rf"|\b(?:{_REPLENISH_WORD})(?:\s+strategy)?\s*(?:[:=]|is)?\s*(?:none|nil)\b"
            r"|\b(?:single|1[- ](?:time|off|shot))\s+buy\b|\bbuy\s+once\b"
        ),
    ),
    (
        "bi-weekly",
        re.compile(
            r"\bbi[- ]?weekly\b|\bfortnight\w*"
            r"|\bevery\s+(?:2|other|second)\s+weeks?\b|\btwice\s+(?:a|per)\s+month\b"
        ),
    ),
    (
        "weekly",
        re.compile(
            r"(?<!bi-)(?<!bi )\bweekly\b"
            r"|\b(?:every|each|once\s+(?:a|per|every))\s+(?:1\s+)?week\b"
        ),
    ),
)
_REPLENISH_NEARBY = re.compile(rf"\b(?:{_REPLENISH_WORD}|deliver\w*|ship\w*)")

_PERCENT = re.compile(r"\b(\d{1,3}(?:\.\d+)?)\s*(?:%|percent\b|per\s+cent\b|pct\b)")
_HOLD_WORD = r"hold\w*|held|dc|distribution|reserv\w*|warehouse|retain\w*|keep|kept"
_HOLD_NEARBY = re.compile(rf"\b(?:{_HOLD_WORD})\b")
_ZERO_HOLDBACK = re.compile(
    r"\b(?:nothing|none|no\s+(?:units|stock|inventory))\s+(?:is\s+|gets\s+|will\s+be\s+)?"
    r"(?:held|kept|reserved|retained)\b"
    r"|\bno\s+(?:dc\s+|distribution\s+cent(?:er|re)\s+|warehouse\s+)?"
    r"(?:hold[- ]?backs?|reserves?)\b"
    r"|\b(?:hold\w*|keep\w*|reserv\w*)\s+(?:back\s+)?nothing\b"
    r"|\bnothing\s+(?:at|in)\s+(?:the\s+)?(?:dc|distribution|warehouse)\b"
    r"|\b(?:won't|will\s+not|don't|do\s+not|not)\s+(?:hold|keep|reserv)\w*\s+"
    r"(?:anything|any\s+\w+)\s+back\b"
    r"|\b(?:ship|send|push|allocat)\w*\s+(?:all|everything)\b[^,;.]{0,20}\bstores?\b"
)
_LABELLED_HOLDBACK = re.compile(
    r"\b(?:hold[- ]?back|holdback|reserve)\b[^\d%,;]{0,30}?"
    r"(?<![\d.])(?P<value>\d{1,3}(?:\.\d+)?|\.\d+)\b(?!\s*(?:%|percent|per\s+cent|pct))"
)
_FRACTION_WORDS = {"half": 0.5, "a quarter": 0.25}
_FRACTION_HOLDBACK = re.compile(
    rf"\b(?:{_HOLD_WORD})\b[^,;]{{0,20}}?\b(?P<word>half|a\s+quarter)\b"
    rf"|\b(?P<word2>half|a\s+quarter)\b[^,;]{{0,20}}?\b(?:{_HOLD_WORD})\b"
)
_NEARBY_CHARS = 40


class RuleBasedExtractor:
    """Deterministic, offline `Extractor`; see the module docstring for phrasing."""

    async def extract(self, text: str) -> SeasonParameters:
        """Extract season parameters from `text`.

        Raises:
            ParameterExtractionError: listing parameters the text does not give.
            pydantic.ValidationError: if a stated value is out of range.
        """
        return extract_parameters(text)


def extract_parameters(text: str) -> SeasonParameters:
    """Rule-based extraction as a plain function; `RuleBasedExtractor` runs this."""
    return extract_fields(text).resolve(text)


def extract_fields(text: str) -> ExtractedFields:
    """What `text` states, before derivation and validation."""
    normalised = normalise(text)
    dates = find_dates(normalised)
    start, end = None, None
    previous_end = 0
    for found in dates:
        label = _last_label(normalised[previous_end : found.start])
        previous_end = found.end
        if label == "end" or (label is None and start is not None):
            end = end or found.value
        else:
            start = start or found.value
    undated = mask(normalised, [(found.start, found.end) for found in dates])
    return ExtractedFields(
        forecast_horizon_weeks=_horizon(undated),
        season_start_date=start,
        season_end_date=end,
        replenishment_strategy=_replenishment(undated),
        dc_holdback_percentage=_holdback(undated),
    )


def _last_label(gap: str) -> Literal["start", "end"] | None:
    labels = list(_DATE_LABEL.finditer(gap))
    if not labels:
        return None
    return "start" if labels[-1]["start"] else "end"


def _horizon(text: str) -> int | None:
    for match in _HORIZON.finditer(text):
        if not _NOT_A_HORIZON.search(text[: match.start()]):
            return int(match[1])
    labelled = _HORIZON_LABEL.search(text)
    return int(labelled[1]) if labelled else None


def _replenishment(text: str) -> ReplenishmentStrategy | None:
    candidates: list[tuple[bool, int, ReplenishmentStrategy]] = []
    for strategy, pattern in _REPLENISHMENT:
        for match in pattern.finditer(text):
            near = _window(text, match.start(), match.end())
            candidates.append(
                (not _REPLENISH_NEARBY.search(near), match.start(), strategy)
            )
    return min(candidates)[2] if candidates else None


def _holdback(text: str) -> float | None:
    candidates = [(match.start(), 0.0) for match in _ZERO_HOLDBACK.finditer(text)]
    candidates.extend(
        (match.start(), float(match[1]) / 100)
        for match in _PERCENT.finditer(text)
        if _HOLD_NEARBY.search(_window(text, match.start(), match.end()))
    )
    candidates.extend(
        (match.start(), _as_fraction(float(match["value"])))
        for match in _LABELLED_HOLDBACK.finditer(text)
    )
    candidates.extend(
        (match.start(), _FRACTION_WORDS[_squash(match["word"] or match["word2"])])
        for match in _FRACTION_HOLDBACK.finditer(text)
    )
    return min(candidates)[1] if candidates else None


def _as_fraction(value: float) -> float:
    """A bare holdback number: 0.45 is a fraction, 45 a percentage."""
    return value if value <= 1 else value / 100


def _squash(words: str) -> str:
    return " ".join(words.split())


def _window(text: str, start: int, end: int) -> str:
    return text[max(0, start - _NEARBY_CHARS) : end + _NEARBY_CHARS]
