"""The LLM-backed extractor, configured by SEASON_LLM_* variables, against a fake
OpenAI-compatible chat server speaking real HTTP on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from season_support import run_workflow_body

from conveyor.errors import ConfigurationError
from conveyor_apps.season import (
    ExtractorBackendError,
    LLMExtractor,
    RuleBasedExtractor,
    Scenario,
    SeasonSettings,
)
from conveyor_apps.season.config import make_extractor
from conveyor_apps.season.testing import FakeChatServer


@pytest_asyncio.fixture(name="llm")
async def fixture_llm() -> AsyncIterator[FakeChatServer]:
    """A fake chat completions server, stopped after the test."""
    async with FakeChatServer() as server:
        yield server


@pytest.fixture(name="llm_env")
def fixture_llm_env(
    llm: FakeChatServer, monkeypatch: pytest.MonkeyPatch
) -> SeasonSettings:
    """SEASON_LLM_* point at the fake server; the settings they make."""
    monkeypatch.setenv("SEASON_LLM_BASE_URL", llm.base_url)
    monkeypatch.setenv("SEASON_LLM_API_KEY", llm.api_key)
    monkeypatch.setenv("SEASON_LLM_MODEL", llm.model)
    return SeasonSettings()


async def test_llm_extractor_from_environment(
    llm: FakeChatServer, llm_env: SeasonSettings, scenarios: dict[str, Scenario]
) -> None:
    """With SEASON_LLM_* set the extractor is the LLM one, it asks for structured
    output with the configured model and key, and reads all three scenarios."""
    assert llm_env.uses_llm, "expected the environment to switch on the LLM"
    async with make_extractor(llm_env) as extractor:
        assert isinstance(extractor, LLMExtractor), f"got {extractor!r}"
        for key, scenario in scenarios.items():
            got = await extractor.extract(scenario.description)
            assert got == scenario.parameters, f"{key}: expected match, got {got}"
    request = llm.requests[-1]
    assert request["model"] == llm.model, f"got {request['model']}"
    assert request["response_format"]["type"] == "json_schema", f"got {request}"
    sent = request["messages"][-1]["content"]
    assert sent == scenarios["luxury"].description, f"got {sent!r}"


def test_offline_extractor_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SEASON_LLM_BASE_URL the deterministic extractor is used; a base URL
    without a model is a configuration error naming the variable."""
    monkeypatch.delenv("SEASON_LLM_BASE_URL", raising=False)
    default = make_extractor(SeasonSettings())
    assert isinstance(default, RuleBasedExtractor), f"got {default!r}"
    settings = SeasonSettings(llm_base_url="http://127.0.0.1:9/v1", llm_model=" ")
    with pytest.raises(ConfigurationError, match="SEASON_LLM_MODEL"):
        make_extractor(settings)


async def test_llm_extractor_plans_through_the_api(
    serve, llm: FakeChatServer, llm_env: SeasonSettings, scenarios: dict[str, Scenario]
) -> None:
    """A served season app extracts with the LLM: parameters previews say so, and a
    whole plan runs on its answer."""
    server = await serve(season=llm_env)
    kind = server.orchestrator.extractor_kind
    assert kind == "llm", f"expected the LLM extractor, got {kind}"
    description = scenarios["zara_style"].description
    async with server.client() as client:
        preview = await client.get(
            "/api/orchestrator/parameters", params={"text": description}
        )
        response = await client.post(
            "/api/orchestrator/run-workflow", json=run_workflow_body(description)
        )
    assert preview.json()["extractor"] == "llm", f"got {preview.text}"
    assert response.status_code == 200, f"expected 200, got {response.text}"
    made = response.json()["plan"]["inventory"]["manufacturing_qty"]
    assert made == 10000, f"expected 10000 to manufacture, got {made}"
    assert len(llm.requests) == 2, f"expected two LLM calls, got {len(llm.requests)}"


async def test_llm_failures_answer_502(
    serve, llm: FakeChatServer, llm_env: SeasonSettings, scenarios: dict[str, Scenario]
) -> None:
    """A failing LLM endpoint is retried inside the workflow, then answered 502
    ExtractorBackendError; a wrong key is reported with the endpoint's status."""
    server = await serve(season=llm_env)
    description = scenarios["luxury"].description
    for _ in range(3):
        llm.fail_next(503, "overloaded")
    async with server.client() as client:
        response = await client.post(
            "/api/orchestrator/run-workflow", json=run_workflow_body(description)
        )
        body = response.json()
        assert (response.status_code, body["error"]) == (
            502,
            "ExtractorBackendError",
        ), f"expected 502 ExtractorBackendError, got {response.status_code}: {body}"
        assert "HTTP 503" in body["message"], f"got {body['message']}"
        log = server.orchestrator.execution_log(run_id=None)
        attempts = [e.status for e in log if e.agent == "parameters"]
        assert attempts == ["retrying", "retrying", "failed"], f"got {attempts}"

        llm.answer_next("this is not JSON")
        response = await client.get(
            "/api/orchestrator/parameters", params={"text": description}
        )
        assert response.status_code == 502, f"got {response.text}"

    async with LLMExtractor(llm.base_url, "sk-wrong", llm.model) as extractor:
        with pytest.raises(ExtractorBackendError) as caught:
            await extractor.extract(description)
    assert caught.value.status_code == 401, f"got {caught.value.status_code}"
    async with LLMExtractor(llm.base_url, llm.api_key, "no-such-model") as extractor:
        with pytest.raises(ExtractorBackendError, match="HTTP 404"):
            await extractor.extract(description)
