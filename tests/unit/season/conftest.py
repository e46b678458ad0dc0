"""Shared fixtures for the season domain unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from conveyor_apps.season import (
    Scenario,
    SeasonContext,
    SeasonParameters,
    assemble_context,
    clear_cache,
    load_scenarios,
)


@pytest.fixture(name="scenarios", scope="session")
def fixture_scenarios() -> dict[str, Scenario]:
    """The three reference scenarios from the packaged fixture."""
    return load_scenarios()


@pytest.fixture(name="params_for")
def fixture_params_for(
    scenarios: dict[str, Scenario],
) -> Callable[[str], SeasonParameters]:
    """Factory: a scenario key to its parameters."""
    return lambda key: scenarios[key].parameters


@pytest.fixture(name="zara")
def fixture_zara(params_for: Callable[[str], SeasonParameters]) -> SeasonParameters:
    """The Zara-style scenario's parameters."""
    return params_for("zara_style")


@pytest.fixture(name="context_for")
def fixture_context_for(
    params_for: Callable[[str], SeasonParameters],
) -> Callable[[str, str], SeasonContext]:
    """Factory: (category id, scenario key) to an assembled context."""
    return lambda category, key: assemble_context(category, params_for(key))


@pytest.fixture(name="fresh_cache")
def fixture_fresh_cache() -> Iterator[None]:
    """Start and end the test with no folder cached."""
    clear_cache()
    yield
    clear_cache()
