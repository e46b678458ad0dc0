"""Context assembly: loading once, typed output, unknown categories, speed."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conveyor_apps.season import (
    DataNotFoundError,
    SeasonContext,
    SeasonParameters,
    assemble_context,
)
from conveyor_apps.season.context import load_history

STORES_CSV = """store_id,name,size_sqft,region,climate,price_tier,fashion_index
A,Alpha,10000,North,cold,premium,0.90
B,Beta,20000,South,warm,value,0.10
"""
SALES_CSV = """week_start,store_id,category_id,units
2024-01-01,A,CAT001,5
2024-01-08,A,CAT001,6
2024-01-01,B,CAT001,7
"""


@pytest.fixture(name="tiny_dir")
def fixture_tiny_dir(tmp_path: Path, fresh_cache: None) -> Path:
    """A two-store data folder with one missing week."""
    (tmp_path / "stores.csv").write_text(STORES_CSV, encoding="utf-8")
    (tmp_path / "historical_sales.csv").write_text(SALES_CSV, encoding="utf-8")
    return tmp_path


def test_context_holds_category_history(
    context_for: Callable[[str, str], SeasonContext],
) -> None:
    """A context carries 52 weekly totals, per-store series and 50 stores."""
    context = context_for("CAT001", "zara_style")
    assert context.category_id == "CAT001"
    assert len(context.week_starts) == 52
    assert len(context.category_weekly_units) == 52
    assert len(context.store_weekly_units) == 50
    assert len(context.stores) == 50
    per_store_total = sum(sum(series) for series in context.store_weekly_units.values())
    assert context.history_total_units == per_store_total


def test_unknown_category_raises(zara: SeasonParameters) -> None:
    """A category without history raises DataNotFoundError naming it."""
    with pytest.raises(DataNotFoundError, match=r"No historical data.*CAT999"):
        assemble_context("CAT999", zara)


def test_history_is_cached_per_folder(fresh_cache: None) -> None:
    """Loading the same folder twice returns the same parsed object."""
    assert load_history() is load_history()
    assert load_history().category_ids == tuple(f"CAT00{n}" for n in range(1, 6))


def test_custom_folder_fills_missing_weeks(
    tiny_dir: Path, zara: SeasonParameters
) -> None:
    """Weeks a store has no row for count as zero units."""
    context = assemble_context("CAT001", zara, data_dir=tiny_dir)
    assert context.store_weekly_units == {"A": (5, 6), "B": (7, 0)}
    assert context.category_weekly_units == (12, 6)
    assert [store.store_id for store in context.stores] == ["A", "B"]


def test_context_is_fast_after_first_load(zara: SeasonParameters) -> None:
    """Assembling a context from a loaded folder takes well under 50 ms."""
    assemble_context("CAT003", zara)
    started = time.perf_counter()
    for _ in range(20):
        assemble_context("CAT003", zara)
    per_call_s = (time.perf_counter() - started) / 20
    assert per_call_s < 0.05, f"expected < 50 ms per context, got {per_call_s:.4f} s"


def test_context_round_trips_json(
    context_for: Callable[[str, str], SeasonContext],
) -> None:
    """A context survives JSON serialisation, as durable steps need."""
    context = context_for("CAT002", "luxury")
    assert SeasonContext.model_validate_json(context.model_dump_json()) == context
