"""The offline extractor reads the reference scenarios and everyday variants."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from conveyor_apps.season import (
    Extractor,
    ParameterExtractionError,
    RuleBasedExtractor,
    Scenario,
    extract_parameters,
)
from conveyor_apps.season.extraction import ExtractedFields

Z = (12, date(2025, 3, 1), date(2025, 5, 24), "none", 0.0)
Z_TABLE = (12, date(2025, 3, 1), date(2025, 5, 23), "none", 0.0)
S = (26, date(2025, 5, 15), date(2025, 11, 13), "weekly", 0.45)
L = (24, date(2025, 9, 1), date(2026, 2, 16), "bi-weekly", 0.6)
PHRASINGS = [
    ("12-week season starting March 1 2025, no replenishment, nothing held back at "
     "the DC", Z),
    ("26 weeks from 15 May 2025, weekly replenishment, 45% DC holdback", S),
    ("luxury season of 24 weeks beginning 2025-09-01, replenish every two weeks, "
     "hold back 60 percent", L),
    ("Standard retail plan: 26 weeks starting 2025-05-15, replenish weekly, keep 45 "
     "percent at the distribution center", S),
    ("Run a twenty-six week season from May 15th, 2025 with weekly restocking and a "
     "45% DC reserve", S),
    ("Fortnightly replenishment, 60% holdback, 24-week luxury season commencing 1st "
     "September 2025", L),
    ("Season: 2025-03-01 to 2025-05-23. Replenishment: none. DC holdback: 0%.",
     Z_TABLE),
    ("From 1 March to 23 May 2025, single buy, ship everything to stores.", Z_TABLE),
    ("Twelve weeks, start 01 Mar 2025, no restocking, no DC holdback", Z),
    ("A 24 week season starting September 1, 2025, bi weekly replenishment, DC "
     "holdback 0.6", L),
    ("24-week season beginning 2025-09-01 with replenishment every other week and 60 "
     "per cent held at the warehouse", L),
    ("Fast fashion drop of 12 weeks from 2025-03-01; we won't hold anything back, no "
     "replenishment", Z),
    ("Weekly forecast for a 12-week season starting March 1 2025 with no "
     "replenishment and 0% held back", Z),
    ("26-week season from May 15 2025, replenished once a week, DC holdback of 45",
     S),
    ("Season ending 2025-05-23, 12 weeks, without replenishment, hold back nothing",
     (12, date(2025, 2, 28), date(2025, 5, 23), "none", 0.0)),
    ("Replenish every 2 weeks; 24 weeks from 2025-09-01; 60% held back at the DC",
     L),
    ("Horizon: 26. Start 2025-05-15. Replenish every week. Reserve half at the DC.",
     (26, date(2025, 5, 15), date(2025, 11, 13), "weekly", 0.5)),
]  # fmt: skip


def as_tuple(text: str) -> tuple[object, ...]:
    """Extracted parameters as (horizon, start, end, strategy, holdback)."""
    p = extract_parameters(text)
    return (
        p.forecast_horizon_weeks,
        p.season_start_date,
        p.season_end_date,
        p.replenishment_strategy,
        p.dc_holdback_percentage,
    )


@pytest.mark.parametrize(("text", "expected"), PHRASINGS)
def test_phrasings(text: str, expected: tuple[object, ...]) -> None:
    """Each everyday phrasing yields the intended parameters."""
    assert as_tuple(text) == expected


def test_canonical_descriptions_give_table_rows(scenarios: dict[str, Scenario]) -> None:
    """Each scenario's canonical description extracts to exactly its table row."""
    for key, scenario in scenarios.items():
        got = extract_parameters(scenario.description)
        assert got == scenario.parameters, f"{key}: expected {scenario.parameters}"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("Plan a great season", ["forecast_horizon_weeks", "season_start_date",
         "season_end_date", "replenishment_strategy", "dc_holdback_percentage"]),
        ("a season, weekly", ["forecast_horizon_weeks", "season_start_date",
         "season_end_date", "dc_holdback_percentage"]),
        ("12 weeks from 2025-03-01, nothing held back", ["replenishment_strategy"]),
        ("12 weeks, weekly, 45% held back", ["season_start_date", "season_end_date"]),
        ("12 weeks starting March 1, weekly, no holdback",
         ["season_start_date", "season_end_date"]),
    ],
)  # fmt: skip
def test_missing_parameters_are_named(text: str, missing: list[str]) -> None:
    """Text lacking parameters raises an error listing exactly those names."""
    with pytest.raises(ParameterExtractionError) as caught:
        extract_parameters(text)
    assert caught.value.missing == missing
    assert caught.value.text == text


def test_out_of_range_horizon_names_field() -> None:
    """A 100-week season is a validation error on forecast_horizon_weeks only."""
    with pytest.raises(ValidationError) as caught:
        extract_parameters("100-week season starting 2025-03-01, weekly, 10% held back")
    assert [e["loc"] for e in caught.value.errors()] == [("forecast_horizon_weeks",)]


def test_dates_in_wrong_order_fail_validation() -> None:
    """An end before the start is reported by validation, not as missing."""
    with pytest.raises(ValidationError, match="season_end_date"):
        extract_parameters("from 2025-05-01 to 2025-03-01, weekly, no holdback")


def test_replenishment_word_near_context_wins() -> None:
    """ "weekly" far from replenishment words loses to "no replenishment"."""
    text = "Weekly sales review; 12 weeks from 2025-03-01; no replenishment; 0% held"
    assert extract_parameters(text).replenishment_strategy == "none"


def test_start_is_derived_from_end_and_horizon() -> None:
    """With only an end date, the start is end minus the horizon."""
    fields = ExtractedFields(
        forecast_horizon_weeks=2,
        season_end_date=date(2025, 1, 15),
        replenishment_strategy="weekly",
        dc_holdback_percentage=0.1,
    )
    assert fields.resolve().season_start_date == date(2025, 1, 1)


async def test_rule_based_extractor_is_an_extractor(
    scenarios: dict[str, Scenario],
) -> None:
    """RuleBasedExtractor satisfies the async Extractor interface."""
    extractor = RuleBasedExtractor()
    assert isinstance(extractor, Extractor)
    luxury = scenarios["luxury"]
    assert await extractor.extract(luxury.description) == luxury.parameters
