"""Loads the sales fixtures once per folder and assembles a category's `SeasonContext`.

The first call for a folder parses the CSVs (tens of milliseconds); after that a
context is a dictionary lookup plus model construction, well under a millisecond.
"""

from __future__ import annotations

import csv
import functools
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .data import DATA_DIR
from .errors import DataNotFoundError
from .parameters import SeasonParameters

SALES_FILE = "historical_sales.csv"
STORES_FILE = "stores.csv"
PriceTier = Literal["premium", "mid", "value"]


class StoreAttributes(BaseModel):
    """One store as described in `stores.csv`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    store_id: str
    name: str
    size_sqft: int = Field(gt=0)
    region: str
    climate: str
    price_tier: PriceTier
    fashion_index: float = Field(ge=0.0, le=1.0)


class SeasonContext(BaseModel):
    """Everything the Demand agent needs for one category and one season strategy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category_id: str
    parameters: SeasonParameters
    week_starts: tuple[date, ...] = Field(description="Monday of each history week.")
    category_weekly_units: tuple[int, ...] = Field(
        description="Units sold per history week, all stores together."
    )
    store_weekly_units: dict[str, tuple[int, ...]] = Field(
        description="Units sold per history week, by store id."
    )
    stores: tuple[StoreAttributes, ...]

    @property
    def history_total_units(self) -> int:
        """Units sold over the whole history."""
        return sum(self.category_weekly_units)


@dataclass(frozen=True, slots=True)
class SalesHistory:
    """The parsed fixtures of one data folder; shared, never mutated."""

    week_starts: tuple[date, ...]
    store_units: Mapping[str, Mapping[str, tuple[int, ...]]]
    category_totals: Mapping[str, tuple[int, ...]]
    stores: tuple[StoreAttributes, ...]

    @property
    def category_ids(self) -> tuple[str, ...]:
        """Categories with history, sorted."""
        return tuple(sorted(self.category_totals))


def load_history(data_dir: Path | None = None) -> SalesHistory:
    """Parse `historical_sales.csv` and `stores.csv` from `data_dir`, cached per folder.

    Args:
        data_dir: Folder holding the fixtures; defaults to the package's `data/`.

    Raises:
        FileNotFoundError: if a fixture file is missing.
    """
    return _load_history_cached((data_dir or DATA_DIR).resolve())


def clear_cache() -> None:
    """Forget every loaded folder, e.g. after regenerating fixtures."""
    _load_history_cached.cache_clear()


@functools.lru_cache(maxsize=8)
def _load_history_cached(data_dir: Path) -> SalesHistory:
    with (data_dir / STORES_FILE).open(newline="", encoding="utf-8") as handle:
        stores = tuple(
            StoreAttributes.model_validate(row) for row in csv.DictReader(handle)
        )
    cells: dict[str, dict[str, dict[date, int]]] = defaultdict(
        lambda: defaultdict(dict)
    )
    weeks: set[date] = set()
    with (data_dir / SALES_FILE).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            week = date.fromisoformat(row["week_start"])
            weeks.add(week)
            cells[row["category_id"]][row["store_id"]][week] = int(row["units"])
    week_starts = tuple(sorted(weeks))
    store_units = {
        category: {
            store_id: tuple(by_week.get(week, 0) for week in week_starts)
            for store_id, by_week in sorted(by_store.items())
        }
        for category, by_store in cells.items()
    }
    totals = {
        category: tuple(sum(column) for column in zip(*series.values(), strict=True))
        for category, series in store_units.items()
    }
    return SalesHistory(week_starts, store_units, totals, stores)


def assemble_context(
    category_id: str, parameters: SeasonParameters, *, data_dir: Path | None = None
) -> SeasonContext:
    """Build the typed context for one category's season.

    Args:
        category_id: e.g. `CAT001`.
        parameters: The validated season strategy.
        data_dir: Fixture folder; defaults to the package's `data/`.

    Raises:
        DataNotFoundError: if the category has no sales history.
    """
    history = load_history(data_dir)
    store_units = history.store_units.get(category_id)
    if not store_units:
        raise DataNotFoundError(category_id)
    return SeasonContext(
        category_id=category_id,
        parameters=parameters,
        week_starts=history.week_starts,
        category_weekly_units=history.category_totals[category_id],
        store_weekly_units=dict(store_units),
        stores=history.stores,
    )
