"""The `Extractor` interface and the rules every backend shares for gaps in the text.

Backends report what the text states as `ExtractedFields`; `resolve` fills what can
be derived (end from start + horizon, horizon from the dates, start from end −
horizon) and raises `ParameterExtractionError` naming whatever is still missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Protocol, runtime_checkable

from ..errors import ParameterExtractionError
from ..parameters import (
    ReplenishmentStrategy,
    SeasonParameters,
    derive_end_date,
    derive_horizon_weeks,
)

MAX_HORIZON_WEEKS = 52
MAX_DERIVABLE_WEEKS = 5200  # keeps date arithmetic clear of OverflowError


@runtime_checkable
class Extractor(Protocol):
    """Anything that turns a strategy description into season parameters."""

    async def extract(self, text: str) -> SeasonParameters:
        """Extract parameters from `text`.

        Raises:
            ParameterExtractionError: if a parameter is not stated or derivable.
            pydantic.ValidationError: if a stated value is invalid.
        """
        ...


@dataclass(frozen=True, slots=True)
class ExtractedFields:
    """What a text states; `None` means the text did not say."""

    forecast_horizon_weeks: int | None = None
    season_start_date: date | None = None
    season_end_date: date | None = None
    replenishment_strategy: ReplenishmentStrategy | None = None
    dc_holdback_percentage: float | None = None

    def resolve(self, text: str | None = None) -> SeasonParameters:
        """Derive what is derivable and validate.

        Raises:
            ParameterExtractionError: listing parameters neither stated nor derivable.
            pydantic.ValidationError: if a value is out of range.
        """
        horizon = self.forecast_horizon_weeks
        start, end = self.season_start_date, self.season_end_date
        if horizon is None and start is not None and end is not None:
            horizon = derive_horizon_weeks(start, end)
        derivable = horizon is not None and 1 <= horizon <= MAX_DERIVABLE_WEEKS
        if horizon is not None and derivable:
            if end is None and start is not None:
                end = derive_end_date(start, horizon)
            elif start is None and end is not None:
                start = end - timedelta(weeks=horizon)
        values = {
            "forecast_horizon_weeks": horizon,
            "season_start_date": start,
            "season_end_date": end,
            "replenishment_strategy": self.replenishment_strategy,
            "dc_holdback_percentage": self.dc_holdback_percentage,
        }
        missing = [name for name, value in values.items() if value is None]
        horizon_in_range = horizon is None or 1 <= horizon <= MAX_HORIZON_WEEKS
        if missing and horizon_in_range:
            raise ParameterExtractionError(missing, text)
        # An out-of-range horizon is the real problem: let validation name it.
        stated = {name: value for name, value in values.items() if value is not None}
        return SeasonParameters.model_validate(stated)
