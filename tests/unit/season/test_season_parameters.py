"""SeasonParameters validation, the date rules and the scenario fixture."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from conveyor_apps.season import (
    Scenario,
    SeasonParameters,
    derive_end_date,
    load_scenarios,
)
from conveyor_apps.season.parameters import derive_horizon_weeks

VALID: dict[str, Any] = {
    "forecast_horizon_weeks": 12,
    "season_start_date": "2025-03-01",
    "season_end_date": "2025-05-23",
    "replenishment_strategy": "none",
    "dc_holdback_percentage": 0.0,
}
TABLE = {
    "zara_style": (12, date(2025, 3, 1), date(2025, 5, 23), "none", 0.0),
    "standard_retail": (26, date(2025, 5, 15), date(2025, 11, 13), "weekly", 0.45),
    "luxury": (24, date(2025, 9, 1), date(2026, 2, 16), "bi-weekly", 0.60),
}


def invalid_fields(**overrides: Any) -> set[str]:
    """Field names pydantic reports for VALID with `overrides` applied."""
    with pytest.raises(ValidationError) as caught:
        SeasonParameters.model_validate({**VALID, **overrides})
    return {str(error["loc"][0]) for error in caught.value.errors()}


def test_valid_parameters_parse() -> None:
    """A complete, valid mapping becomes typed parameters."""
    params = SeasonParameters.model_validate(VALID)
    assert params.season_start_date == date(2025, 3, 1)
    assert params.forecast_horizon_weeks == 12


@pytest.mark.parametrize("weeks", [0, 53, 100, -1])
def test_horizon_out_of_range_names_field(weeks: int) -> None:
    """Horizons outside 1..52 (100 included) are rejected naming the field."""
    assert invalid_fields(forecast_horizon_weeks=weeks) == {"forecast_horizon_weeks"}


@pytest.mark.parametrize("end", ["2025-02-01", "2025-03-01"])
def test_end_not_after_start_names_end_date(end: str) -> None:
    """An end on or before the start is rejected naming season_end_date."""
    with pytest.raises(ValidationError) as caught:
        SeasonParameters.model_validate({**VALID, "season_end_date": end})
    assert [e["loc"] for e in caught.value.errors()] == [("season_end_date",)]
    assert "must be after season_start_date" in str(caught.value)


def test_unknown_strategy_names_field() -> None:
    """A replenishment strategy outside none/weekly/bi-weekly names the field."""
    assert invalid_fields(replenishment_strategy="daily") == {"replenishment_strategy"}


@pytest.mark.parametrize("share", [-0.1, 1.5])
def test_holdback_out_of_range_names_field(share: float) -> None:
    """DC holdback outside 0..1 names dc_holdback_percentage."""
    assert invalid_fields(dc_holdback_percentage=share) == {"dc_holdback_percentage"}


def test_extra_fields_are_forbidden() -> None:
    """An unknown key is rejected by name."""
    assert invalid_fields(colour="red") == {"colour"}


def test_parameters_are_frozen() -> None:
    """Parameters cannot be mutated after validation."""
    params = SeasonParameters.model_validate(VALID)
    with pytest.raises(ValidationError):
        params.forecast_horizon_weeks = 13  # type: ignore[misc]


@pytest.mark.parametrize("key", ["standard_retail", "luxury"])
def test_end_date_rule_matches_table(key: str) -> None:
    """End = start + horizon weeks reproduces the Standard and Luxury rows."""
    weeks, start, end, *_ = TABLE[key]
    assert derive_end_date(start, weeks) == end


def test_zara_row_is_the_documented_exception() -> None:
    """The Zara row ends a day before the rule's date; the fixture keeps the table."""
    assert derive_end_date(date(2025, 3, 1), 12) == date(2025, 5, 24)
    assert TABLE["zara_style"][2] == date(2025, 5, 23)


@pytest.mark.parametrize("key", sorted(TABLE))
def test_horizon_rule_matches_every_row(key: str) -> None:
    """Whole weeks between the dates, rounded up, give every row's horizon."""
    weeks, start, end, *_ = TABLE[key]
    assert derive_horizon_weeks(start, end) == weeks


def test_scenarios_match_spec_table(scenarios: dict[str, Scenario]) -> None:
    """The fixture holds exactly the spec table's three rows."""
    assert list(scenarios) == ["zara_style", "standard_retail", "luxury"]
    for key, (weeks, start, end, strategy, holdback) in TABLE.items():
        params = scenarios[key].parameters
        got = (
            params.forecast_horizon_weeks,
            params.season_start_date,
            params.season_end_date,
            params.replenishment_strategy,
            params.dc_holdback_percentage,
        )
        assert got == (weeks, start, end, strategy, holdback), f"{key}: got {got}"
        assert scenarios[key].name
        assert scenarios[key].description


def test_load_scenarios_from_custom_path(tmp_path: Path) -> None:
    """`load_scenarios` reads any file of the same shape."""
    path = tmp_path / "s.json"
    item = {"key": "k", "name": "N", "description": "d", "parameters": VALID}
    path.write_text(json.dumps({"scenarios": [item]}), encoding="utf-8")
    assert list(load_scenarios(path)) == ["k"]
