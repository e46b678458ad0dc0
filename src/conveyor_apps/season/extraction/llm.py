"""An `Extractor` backed by any OpenAI-compatible chat completions endpoint.

It asks for structured output (a strict JSON schema whose fields may be null when
the text does not say), then applies the same derivations as the offline extractor.
Transport and HTTP failures become `ExtractorBackendError` at this boundary.
"""

from __future__ import annotations

import json
import re
from datetime import date
from types import TracebackType
from typing import Any, Self

import httpx

from ..errors import ExtractorBackendError
from ..parameters import SeasonParameters
from .base import ExtractedFields

SYSTEM_PROMPT = """\
You extract retail season-planning parameters from a planner's description.
Return JSON only, matching the schema. Use null for anything the text does not state;
never guess. Dates are ISO 8601 (YYYY-MM-DD). replenishment_strategy is "none",
"weekly" or "bi-weekly" (every two weeks). dc_holdback_percentage is the share of
production held back at the distribution centre as a fraction: 45% -> 0.45."""

PARAMETERS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "forecast_horizon_weeks": {"type": ["integer", "null"]},
        "season_start_date": {"type": ["string", "null"]},
        "season_end_date": {"type": ["string", "null"]},
        "replenishment_strategy": {
            "type": ["string", "null"],
            "enum": ["none", "weekly", "bi-weekly", None],
        },
        "dc_holdback_percentage": {"type": ["number", "null"]},
    },
    "required": [
        "forecast_horizon_weeks",
        "season_start_date",
        "season_end_date",
        "replenishment_strategy",
        "dc_holdback_percentage",
    ],
    "additionalProperties": False,
}
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)
_ERROR_BODY_CHARS = 200


class LLMExtractor:
    """`Extractor` calling `POST {base_url}/chat/completions`.

    Owns its `httpx.AsyncClient`: use `async with` or call `aclose()`.

    Args:
        base_url: API root, e.g. `https://api.openai.com/v1`.
        api_key: Sent as a bearer token.
        model: Model name passed through to the endpoint.
        timeout_s: Per-request timeout.
        transport: Optional httpx transport, e.g. `httpx.MockTransport` in tests.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str,
        *,
        timeout_s: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.model = model
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def request_body(self, text: str) -> dict[str, Any]:
        """The chat completions request sent for `text`."""
        return {
            "model": self.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": text},
            ],
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": "season_parameters",
                    "strict": True,
                    "schema": PARAMETERS_SCHEMA,
                },
            },
        }

    async def extract(self, text: str) -> SeasonParameters:
        """Ask the model for parameters and validate its answer.

        Raises:
            ExtractorBackendError: if the endpoint is unreachable, returns an HTTP
                error, or answers with something other than the schema's JSON.
            ParameterExtractionError: if the model reports a parameter as unstated.
            pydantic.ValidationError: if a returned value is out of range.
        """
        try:
            response = await self._client.post(
                "chat/completions", json=self.request_body(text)
            )
        except httpx.HTTPError as exc:
            raise ExtractorBackendError(
                f"LLM endpoint {self._client.base_url} unreachable: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        if response.is_error:
            raise ExtractorBackendError(
                f"LLM endpoint answered HTTP {response.status_code}: "
                f"{response.text[:_ERROR_BODY_CHARS]}",
                status_code=response.status_code,
            )
        return _fields_from(_content_of(response)).resolve(text)


def _content_of(response: httpx.Response) -> dict[str, Any]:
    try:
        message = response.json()["choices"][0]["message"]
        if message.get("refusal"):
            raise ExtractorBackendError(f"LLM refused: {message['refusal']}")
        content = message["content"]
        fenced = _FENCE.match(content)
        payload = json.loads(fenced[1] if fenced else content)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ExtractorBackendError(
            f"LLM answer is not the expected JSON: {type(exc).__name__}: {exc}"
        ) from exc
    if not isinstance(payload, dict):
        raise ExtractorBackendError("LLM answer is not a JSON object")
    return payload


def _fields_from(payload: dict[str, Any]) -> ExtractedFields:
    """Map the model's JSON onto `ExtractedFields`; values are validated later."""
    start, end = payload.get("season_start_date"), payload.get("season_end_date")
    return ExtractedFields(
        forecast_horizon_weeks=_as_int(payload.get("forecast_horizon_weeks")),
        season_start_date=_as_date(start),
        season_end_date=_as_date(end),
        replenishment_strategy=payload.get("replenishment_strategy"),
        dc_holdback_percentage=payload.get("dc_holdback_percentage"),
    )


def _as_date(value: object) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ExtractorBackendError(f"LLM returned a non-ISO date: {value!r}") from exc


def _as_int(value: object) -> int | None:
    """The horizon as an int; models sometimes send "12" or 12.0."""
    if value is None:
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if number.is_integer():
                return int(number)
    raise ExtractorBackendError(f"LLM returned a non-integer horizon: {value!r}")
