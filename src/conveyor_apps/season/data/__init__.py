"""Version-controlled season fixtures and the seeded script that generated them.

Regenerate with `python -m conveyor_apps.season.data.generate`; the output is
byte-for-byte reproducible, and a unit test checks the committed files match it.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent
"""The folder holding `historical_sales.csv`, `stores.csv` and `scenarios.json`."""
