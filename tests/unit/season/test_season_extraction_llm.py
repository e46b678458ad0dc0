"""The LLM extractor against a local fake of the chat completions API."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import date
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from conveyor_apps.season import (
    Extractor,
    ExtractorBackendError,
    LLMExtractor,
    ParameterExtractionError,
)
from conveyor_apps.season.extraction.llm import PARAMETERS_SCHEMA

Handler = Callable[[httpx.Request], httpx.Response]
ZARA = {
    "forecast_horizon_weeks": 12,
    "season_start_date": "2025-03-01",
    "season_end_date": "2025-05-23",
    "replenishment_strategy": "none",
    "dc_holdback_percentage": 0.0,
}


def completion(content: str | None, **message: Any) -> dict[str, Any]:
    """An OpenAI chat completions response body carrying `content`."""
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "model": "fake-model",
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content, **message},
            }
        ],
    }


def responding(status: int, **response: Any) -> Handler:
    """A fake endpoint that answers every request with the same response."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, **response)

    return handler


def answering(payload: Any) -> Handler:
    """A fake endpoint whose model answers `payload` as JSON content."""
    return responding(200, json=completion(json.dumps(payload)))


@pytest.fixture(name="make_extractor")
async def fixture_make_extractor() -> AsyncIterator[Callable[[Handler], LLMExtractor]]:
    """Factory: an LLMExtractor wired to an in-process fake; closed afterwards."""
    made: list[LLMExtractor] = []

    def make(handler: Handler) -> LLMExtractor:
        extractor = LLMExtractor(
            "http://fake-llm.test/v1/",
            "sk-test",
            "fake-model",
            transport=httpx.MockTransport(handler),
        )
        made.append(extractor)
        return extractor

    yield make
    for extractor in made:
        await extractor.aclose()


async def test_extracts_from_structured_output(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """The request asks for the JSON schema and the answer becomes parameters."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=completion(json.dumps(ZARA)))

    params = await make_extractor(handler).extract("zara text")
    assert params.season_end_date == date(2025, 5, 23)
    (request,) = seen
    assert request.url == "http://fake-llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = json.loads(request.content)
    assert body["model"] == "fake-model"
    assert body["messages"][-1] == {"role": "user", "content": "zara text"}
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == PARAMETERS_SCHEMA


async def test_null_end_date_is_derived(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """A null end date is derived from start + horizon; "12" is coerced."""
    payload = {**ZARA, "season_end_date": None, "forecast_horizon_weeks": "12"}
    params = await make_extractor(answering(payload)).extract("t")
    assert params.season_end_date == date(2025, 5, 24)
    assert params.forecast_horizon_weeks == 12


async def test_null_horizon_is_derived_from_dates(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """A null horizon is derived from the two dates."""
    payload = {**ZARA, "forecast_horizon_weeks": None}
    assert (
        await make_extractor(answering(payload)).extract("t")
    ).forecast_horizon_weeks == 12


async def test_fenced_json_is_accepted(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """Content wrapped in a ```json fence is still parsed."""
    fenced = "```json\n" + json.dumps(ZARA) + "\n```"
    handler = responding(200, json=completion(fenced))
    assert (await make_extractor(handler).extract("t")).forecast_horizon_weeks == 12


async def test_nulls_become_missing_parameters(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """Parameters the model reports as null are listed as missing."""
    payload = {**ZARA, "replenishment_strategy": None, "dc_holdback_percentage": None}
    with pytest.raises(ParameterExtractionError) as caught:
        await make_extractor(answering(payload)).extract("t")
    assert caught.value.missing == ["replenishment_strategy", "dc_holdback_percentage"]


async def test_invalid_value_names_field(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """A 100-week horizon from the model fails validation naming the field."""
    with pytest.raises(ValidationError, match="forecast_horizon_weeks"):
        await make_extractor(
            answering({**ZARA, "forecast_horizon_weeks": 100})
        ).extract("t")


async def test_http_error_is_translated(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """An HTTP error status becomes ExtractorBackendError with the status."""
    handler = responding(503, text="overloaded")
    with pytest.raises(ExtractorBackendError, match="HTTP 503: overloaded") as caught:
        await make_extractor(handler).extract("t")
    assert caught.value.status_code == 503


async def test_network_error_is_translated(
    make_extractor: Callable[[Handler], LLMExtractor],
) -> None:
    """A connection failure becomes ExtractorBackendError naming the endpoint."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(ExtractorBackendError, match="unreachable: ConnectError"):
        await make_extractor(handler).extract("t")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"choices": []}, "not the expected JSON"),
        (completion("not json"), "not the expected JSON"),
        (completion(None), "not the expected JSON"),
        (completion("[1, 2]"), "not a JSON object"),
        (completion(None, refusal="I can't help"), "refused: I can't help"),
        (completion(json.dumps({**ZARA, "season_start_date": "1 March"})),
         "non-ISO date"),
        (completion(json.dumps({**ZARA, "forecast_horizon_weeks": "twelve"})),
         "non-integer horizon"),
        (completion(json.dumps({**ZARA, "forecast_horizon_weeks": True})),
         "non-integer horizon"),
        (completion(json.dumps({**ZARA, "forecast_horizon_weeks": 12.5})),
         "non-integer horizon"),
    ],
)  # fmt: skip
async def test_malformed_answers_are_translated(
    make_extractor: Callable[[Handler], LLMExtractor],
    body: dict[str, Any],
    message: str,
) -> None:
    """Answers that are not the schema's JSON become ExtractorBackendError."""
    handler = responding(200, json=body)
    with pytest.raises(ExtractorBackendError, match=message):
        await make_extractor(handler).extract("t")


async def test_context_manager_closes_client() -> None:
    """`async with` closes the owned HTTP client and it is an Extractor."""
    async with LLMExtractor(
        "http://fake-llm.test/v1",
        "k",
        "m",
        transport=httpx.MockTransport(answering(ZARA)),
    ) as extractor:
        assert isinstance(extractor, Extractor)
        assert (await extractor.extract("t")).replenishment_strategy == "none"
    assert extractor._client.is_closed
