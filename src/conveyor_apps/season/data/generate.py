"""Seeded generator of the season fixtures: sales history, stores and scenarios.

Sales follow units = base × store size^0.8 × tier × climate × fashion affinity ×
seasonality × holiday bump × trend × log-normal noise, one row per week, store and
category. Run `python -m conveyor_apps.season.data.generate [--out DIR]`.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from . import DATA_DIR

SEED = 20240101
FIRST_WEEK = date(2024, 1, 1)  # a Monday
WEEKS = 52
STORE_COUNT = 50
WEEKS_PER_YEAR = 52.0


@dataclass(frozen=True, slots=True)
class CategorySpec:
    """How one category sells: level, seasonal peak, trend and sensitivities."""

    category_id: str
    name: str
    base_units: float  # per average store and week, before seasonality
    peak_week: int  # 0-based week of the seasonal peak
    amplitude: float  # log-amplitude of the yearly cycle
    trend_per_week: float  # log-growth per week
    cold_effect: float  # multiplier offset for cold-climate stores
    warm_effect: float  # multiplier offset for warm-climate stores
    fashion_sensitivity: float  # 0 = basics, 1 = sells only where fashion_index is high


CATEGORIES: tuple[CategorySpec, ...] = (
    CategorySpec("CAT001", "Outerwear", 13.0, 47, 0.55, 0.0015, 0.25, -0.30, 0.2),
    CategorySpec("CAT002", "Swimwear", 9.0, 26, 0.85, 0.0020, -0.30, 0.35, 0.3),
    CategorySpec("CAT003", "Dresses", 15.0, 21, 0.35, 0.0030, 0.00, 0.10, 0.8),
    CategorySpec("CAT004", "Knitwear", 12.0, 43, 0.50, -0.0010, 0.20, -0.25, 0.4),
    CategorySpec("CAT005", "Denim", 17.0, 34, 0.20, 0.0010, 0.00, 0.00, 0.5),
)

REGIONS: dict[str, tuple[str, ...]] = {
    "North": ("Aberdeen", "Inverness", "Dundee", "Newcastle", "Sunderland",
              "Carlisle", "Durham", "York", "Perth", "Stirling"),
    "South": ("Brighton", "Southampton", "Portsmouth", "Bournemouth", "Plymouth",
              "Exeter", "Torquay", "Hastings", "Eastbourne", "Truro"),
    "East": ("Norwich", "Cambridge", "Ipswich", "Colchester", "Peterborough",
             "Chelmsford", "Lincoln", "Hull", "Lowestoft", "King's Lynn"),
    "West": ("Bristol", "Cardiff", "Swansea", "Bath", "Gloucester",
             "Cheltenham", "Hereford", "Worcester", "Taunton", "Newport"),
    "Central": ("London Soho", "London Kensington", "Birmingham", "Manchester",
                "Leeds", "Nottingham", "Leicester", "Coventry", "Oxford", "Reading"),
}  # fmt: skip
REGION_CLIMATE = {"North": "cold", "South": "warm", "East": "temperate",
                  "West": "temperate", "Central": "temperate"}  # fmt: skip
TIER_VOLUME = {"premium": 0.85, "mid": 1.0, "value": 1.15}

SCENARIOS: tuple[dict[str, object], ...] = (
    {
        "key": "zara_style",
        "name": "Zara-style (fast fashion)",
        "description": (
            "Fast-fashion drop: a 12-week season from 1 March 2025 to 23 May 2025, "
            "no replenishment, and nothing held back at the DC."
        ),
        "parameters": {
            "forecast_horizon_weeks": 12,
            "season_start_date": "2025-03-01",
            "season_end_date": "2025-05-23",
            "replenishment_strategy": "none",
            "dc_holdback_percentage": 0.0,
        },
    },
    {
        "key": "standard_retail",
        "name": "Standard retail",
        "description": (
            "Standard retail: a 26-week season from 15 May 2025 to 13 November 2025, "
            "weekly replenishment, and 45% held back at the DC."
        ),
        "parameters": {
            "forecast_horizon_weeks": 26,
            "season_start_date": "2025-05-15",
            "season_end_date": "2025-11-13",
            "replenishment_strategy": "weekly",
            "dc_holdback_percentage": 0.45,
        },
    },
    {
        "key": "luxury",
        "name": "Luxury",
        "description": (
            "Luxury: a 24-week season from 1 September 2025 to 16 February 2026, "
            "bi-weekly replenishment, and 60% held back at the DC."
        ),
        "parameters": {
            "forecast_horizon_weeks": 24,
            "season_start_date": "2025-09-01",
            "season_end_date": "2026-02-16",
            "replenishment_strategy": "bi-weekly",
            "dc_holdback_percentage": 0.6,
        },
    },
)


@dataclass(frozen=True, slots=True)
class StoreSpec:
    """One generated store's attributes."""

    store_id: str
    name: str
    size_sqft: int
    region: str
    climate: str
    price_tier: str
    fashion_index: float


def generate_stores(rng: random.Random) -> list[StoreSpec]:
    """Draw 50 stores, ten per region, with correlated tier and fashion index."""
    stores: list[StoreSpec] = []
    for region, cities in REGIONS.items():
        for city in cities:
            number = len(stores) + 1
            tier_draw = rng.random()
            premium_odds = 0.45 if region == "Central" else 0.2
            if tier_draw < premium_odds:
                tier, low, high = "premium", 0.55, 0.95
            elif tier_draw < premium_odds + 0.5:
                tier, low, high = "mid", 0.30, 0.70
            else:
                tier, low, high = "value", 0.05, 0.40
            climate = REGION_CLIMATE[region]
            if climate == "temperate" and rng.random() < 0.2:
                climate = rng.choice(("cold", "warm"))
            size = math.exp(rng.gauss(math.log(16_000), 0.4))
            stores.append(
                StoreSpec(
                    store_id=f"S{number:03d}",
                    name=f"{city} Store",
                    size_sqft=int(min(max(size, 6_000), 45_000) // 100 * 100),
                    region=region,
                    climate=climate,
                    price_tier=tier,
                    fashion_index=round(rng.uniform(low, high), 2),
                )
            )
    return stores


def seasonality(spec: CategorySpec, week: int) -> float:
    """Yearly cycle peaking at `spec.peak_week`, plus the late-November rush."""
    angle = 2 * math.pi * (week - spec.peak_week) / WEEKS_PER_YEAR
    holiday = 1.15 if 46 <= week <= 50 else 1.0
    return math.exp(spec.amplitude * math.cos(angle)) * holiday


def store_factor(spec: CategorySpec, store: StoreSpec) -> float:
    """Store-level demand for one category relative to an average store."""
    size = math.pow(store.size_sqft / 16_000, 0.8)
    climate_effects = {"cold": spec.cold_effect, "warm": spec.warm_effect}
    climate = 1.0 + climate_effects.get(store.climate, 0.0)
    fashion = 1.0 + spec.fashion_sensitivity * (store.fashion_index - 0.5) * 1.5
    return size * TIER_VOLUME[store.price_tier] * climate * fashion


def generate_sales(
    rng: random.Random, stores: Sequence[StoreSpec]
) -> list[tuple[str, str, str, int]]:
    """Rows of (week_start, store_id, category_id, units) in that sort order."""
    levels = {
        (spec.category_id, store.store_id): spec.base_units * store_factor(spec, store)
        for spec in CATEGORIES
        for store in stores
    }
    rows: list[tuple[str, str, str, int]] = []
    for week in range(WEEKS):
        week_start = (FIRST_WEEK + timedelta(weeks=week)).isoformat()
        for store in stores:
            for spec in CATEGORIES:
                mean = (
                    levels[spec.category_id, store.store_id]
                    * seasonality(spec, week)
                    * math.exp(spec.trend_per_week * week)
                )
                noisy = mean * math.exp(rng.gauss(0.0, 0.15))
                rows.append(
                    (week_start, store.store_id, spec.category_id, round(noisy))
                )
    return rows


def write_fixtures(out_dir: Path, seed: int = SEED) -> list[Path]:
    """Write every fixture file into `out_dir` and return their paths."""
    rng = random.Random(seed)
    stores = generate_stores(rng)
    out_dir.mkdir(parents=True, exist_ok=True)
    stores_path = out_dir / "stores.csv"
    with stores_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(
            ["store_id", "name", "size_sqft", "region", "climate", "price_tier",
             "fashion_index"]
        )  # fmt: skip
        writer.writerows(
            (s.store_id, s.name, s.size_sqft, s.region, s.climate, s.price_tier,
             f"{s.fashion_index:.2f}")
            for s in stores
        )  # fmt: skip
    sales_path = out_dir / "historical_sales.csv"
    with sales_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["week_start", "store_id", "category_id", "units"])
        writer.writerows(generate_sales(rng, stores))
    categories_path = out_dir / "categories.csv"
    with categories_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["category_id", "name"])
        writer.writerows((spec.category_id, spec.name) for spec in CATEGORIES)
    scenarios_path = out_dir / "scenarios.json"
    scenarios_path.write_text(
        json.dumps({"scenarios": list(SCENARIOS)}, indent=2) + "\n", encoding="utf-8"
    )
    return [sales_path, stores_path, categories_path, scenarios_path]


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; writes into the package's data folder by default."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output folder")
    parser.add_argument("--seed", type=int, default=SEED, help="random seed")
    args = parser.parse_args(argv)
    for path in write_fixtures(args.out, args.seed):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":  # pragma: no cover - exercised via main() in tests
    raise SystemExit(main())
