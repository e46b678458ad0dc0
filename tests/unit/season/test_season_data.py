"""The committed fixtures are the generator's output and look like real retail."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest

from conveyor_apps.season.data import DATA_DIR
from conveyor_apps.season.data.generate import main, write_fixtures

FILES = ("historical_sales.csv", "stores.csv", "categories.csv", "scenarios.json")


def read_rows(name: str) -> list[dict[str, str]]:
    """Rows of a committed CSV fixture."""
    with (DATA_DIR / name).open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_generator_reproduces_committed_files(tmp_path: Path) -> None:
    """Regenerating with the fixed seed gives byte-identical fixtures."""
    write_fixtures(tmp_path)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), (
            f"{name} differs from the generator's output; rerun the generator"
        )


def test_main_writes_to_out_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command line writes every file into --out and says so."""
    assert main(["--out", str(tmp_path), "--seed", "7"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES)
    assert capsys.readouterr().out.count("wrote ") == len(FILES)


def test_sales_grid_is_complete() -> None:
    """52 Monday weeks from 2024-01-01 × 50 stores × CAT001..CAT005, plain integers."""
    rows = read_rows("historical_sales.csv")
    assert list(rows[0]) == ["week_start", "store_id", "category_id", "units"]
    weeks = sorted({row["week_start"] for row in rows})
    expected_weeks = [str(date(2024, 1, 1) + timedelta(weeks=w)) for w in range(52)]
    assert weeks == expected_weeks
    assert len({row["store_id"] for row in rows}) == 50
    assert sorted({row["category_id"] for row in rows}) == [
        f"CAT00{n}" for n in range(1, 6)
    ]
    assert len(rows) == 52 * 50 * 5
    assert all(row["units"].isdigit() for row in rows), "units must be >= 0 integers"


def test_sales_have_category_seasonality() -> None:
    """Swimwear peaks in summer and outerwear in winter."""
    by_month: dict[tuple[str, int], int] = defaultdict(int)
    for row in read_rows("historical_sales.csv"):
        by_month[row["category_id"], int(row["week_start"][5:7])] += int(row["units"])
    assert by_month["CAT002", 7] > 3 * by_month["CAT002", 1], "swimwear summer peak"
    assert by_month["CAT001", 12] > 2 * by_month["CAT001", 6], "outerwear winter peak"


def test_bigger_stores_sell_more() -> None:
    """Stores above median floor space outsell those below it."""
    sizes = {row["store_id"]: int(row["size_sqft"]) for row in read_rows("stores.csv")}
    totals: dict[str, int] = defaultdict(int)
    for row in read_rows("historical_sales.csv"):
        totals[row["store_id"]] += int(row["units"])
    ranked = sorted(sizes, key=sizes.__getitem__)
    small, large = ranked[:25], ranked[25:]
    assert sum(totals[s] for s in large) > 1.3 * sum(totals[s] for s in small)


def test_stores_have_attributes() -> None:
    """50 distinct stores with size, region, climate, tier and fashion index."""
    rows = read_rows("stores.csv")
    assert len({row["store_id"] for row in rows}) == 50
    assert {row["price_tier"] for row in rows} == {"premium", "mid", "value"}
    assert {row["climate"] for row in rows} == {"cold", "temperate", "warm"}
    assert len({row["region"] for row in rows}) == 5
    assert all(0 <= float(row["fashion_index"]) <= 1 for row in rows)


def test_scenarios_file_has_three_entries() -> None:
    """scenarios.json holds three named scenarios with descriptions."""
    raw = json.loads((DATA_DIR / "scenarios.json").read_text(encoding="utf-8"))
    assert [s["key"] for s in raw["scenarios"]] == [
        "zara_style",
        "standard_retail",
        "luxury",
    ]
