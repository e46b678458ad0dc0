"""The product categories a planner can choose, from `categories.csv`, marked with
whether the sales history covers them."""

from __future__ import annotations

import csv
import functools
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from .context import load_history
from .data import DATA_DIR

CATEGORIES_FILE = "categories.csv"


class Category(BaseModel):
    """A product category."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    category_id: str
    name: str
    has_history: bool


def list_categories(data_dir: Path | None = None) -> list[Category]:
    """Every category in `categories.csv`, in file order."""
    return list(_load((data_dir or DATA_DIR).resolve()))


@functools.lru_cache(maxsize=8)
def _load(data_dir: Path) -> tuple[Category, ...]:
    with_history = set(load_history(data_dir).category_ids)
    with (data_dir / CATEGORIES_FILE).open(newline="", encoding="utf-8") as handle:
        return tuple(
            Category(
                category_id=row["category_id"],
                name=row["name"],
                has_history=row["category_id"] in with_history,
            )
            for row in csv.DictReader(handle)
        )
