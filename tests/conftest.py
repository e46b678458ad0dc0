"""Loads conveyor's pytest plugin from here instead of through its installed entry
point (`-p no:conveyor` in pyproject.toml): pytest-cov starts measuring just before
conftests load, so the engine modules the plugin imports are measured whole, their
import-time lines included."""

from __future__ import annotations

pytest_plugins = ["conveyor.testing.plugin"]
