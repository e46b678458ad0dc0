"""The season test kit: the mock Demand agent (exactly 8000 units) and a fake
OpenAI-compatible chat server answering over real HTTP on 127.0.0.1 (served, like the
season app in tests, by `conveyor.testing.LocalServer`).

```python
orchestrator = install(conveyor, app)
use_mock_demand(orchestrator.handoff)            # demand now forecasts 8000 units
async with FakeChatServer() as llm:              # SEASON_LLM_BASE_URL=llm.base_url
    extractor = LLMExtractor(llm.base_url, llm.api_key, llm.model)
```
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from conveyor import Agent, HandoffManager, StepContext
from conveyor.policies import NO_RETRY
from conveyor.testing import LocalServer

from .agents import DEMAND
from .context import SeasonContext
from .demand import MOCK_TOTAL_UNITS, DemandForecast, mock_forecast
from .extraction.rules import extract_fields

__all__ = [
    "MOCK_TOTAL_UNITS",
    "FakeChatServer",
    "mock_demand",
    "use_mock_demand",
]


async def mock_demand(ctx: StepContext, context: SeasonContext) -> DemandForecast:
    """The mock Demand agent: a gentle hump over the horizon totalling 8000 units,
    with the real clusters of the context's stores."""
    context = SeasonContext.model_validate(context)
    ctx.progress(0.5, "mock forecast")
    return mock_forecast(context.parameters, context)


def use_mock_demand(
    manager: HandoffManager, *, timeout_s: float | None = None
) -> Agent[Any]:
    """Replace the `demand` agent of `manager`'s engine with `mock_demand`."""
    return manager.register_agent(
        DEMAND, mock_demand, timeout_s=timeout_s, retry=NO_RETRY, replace=True
    )


@dataclass(frozen=True, slots=True)
class _Scripted:
    status: int
    body: dict[str, Any]


class FakeChatServer:
    """`POST /v1/chat/completions` as OpenAI answers it, served by uvicorn on a free
    loopback port. Its "model" reads the user's message with the offline rules and
    answers the structured-output JSON (null for what the text does not state).

    Args:
        api_key: the bearer token it accepts (401 otherwise).
        model: the model name it answers to (404 otherwise).
    """

    def __init__(
        self, *, api_key: str = "sk-fake-season", model: str = "fake-season-model"
    ) -> None:
        self.api_key = api_key
        self.model = model
        self.requests: list[dict[str, Any]] = []
        self._scripted: list[_Scripted] = []
        self._server = LocalServer(self._app(), lifespan="off")

    @property
    def base_url(self) -> str:
        """The API root to configure (`SEASON_LLM_BASE_URL`)."""
        return f"{self._server.url}/v1"

    def fail_next(self, status: int, message: str = "fake failure") -> None:
        """Answer the next request with an OpenAI-style error of `status`."""
        body = {"error": {"message": message, "type": "server_error", "code": None}}
        self._scripted.append(_Scripted(status, body))

    def answer_next(self, content: str) -> None:
        """Answer the next request with `content` as the model's message."""
        self._scripted.append(_Scripted(200, self._completion(content)))

    async def __aenter__(self) -> Self:
        await self._server.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop serving and release the port."""
        await self._server.aclose()

    def _app(self) -> FastAPI:
        app = FastAPI(openapi_url=None)

        @app.post("/v1/chat/completions")
        async def completions(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if request.headers.get("authorization") != f"Bearer {self.api_key}":
                return _error(401, "Incorrect API key provided", "invalid_api_key")
            if body.get("model") != self.model:
                return _error(404, f"The model {body.get('model')!r} does not exist")
            if self._scripted:
                scripted = self._scripted.pop(0)
                return JSONResponse(scripted.body, status_code=scripted.status)
            return JSONResponse(self._completion(_answer(body)))

        return app

    def _completion(self, content: str) -> dict[str, Any]:
        return {
            "id": f"chatcmpl-fake-{len(self.requests)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": content},
                }
            ],
        }


def _answer(body: dict[str, Any]) -> str:
    """The structured-output JSON for the last user message."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    fields = extract_fields(str(users[-1].get("content", "")) if users else "")
    start, end = fields.season_start_date, fields.season_end_date
    return json.dumps(
        {
            "forecast_horizon_weeks": fields.forecast_horizon_weeks,
            "season_start_date": start.isoformat() if start else None,
            "season_end_date": end.isoformat() if end else None,
            "replenishment_strategy": fields.replenishment_strategy,
            "dc_holdback_percentage": fields.dc_holdback_percentage,
        }
    )


def _error(status: int, message: str, code: str | None = None) -> JSONResponse:
    body = {
        "error": {"message": message, "type": "invalid_request_error", "code": code}
    }
    return JSONResponse(body, status_code=status)
