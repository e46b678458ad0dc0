"""The published OpenAPI schema: response models for the main routes, and a bounded,
deterministic schemathesis run against it that must never see a 5xx."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from api_support import ADMIN_KEY, KEYS, WORKFLOWS
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans

from conveyor.api import create_app
from conveyor.app import Conveyor
from conveyor.settings import Settings

# negative cases of string path parameters are slow for hypothesis to find
EXAMPLES = {GenerationMode.POSITIVE: 30, GenerationMode.NEGATIVE: 5}


def _app(tmp_path: Path):
    config = Settings(
        store_url=f"sqlite:///{tmp_path}/schema.db",
        api_keys=",".join(f"{tenant}:{key}" for tenant, key in KEYS.items()),
        admin_key=ADMIN_KEY,
        cancel_grace_s=0.1,
    )
    return create_app(Conveyor(settings=config, workflows=WORKFLOWS))


def test_openapi_documents_the_main_routes(tmp_path: Path):
    """The schema names the response model of the main routes and the error body."""
    schema = _app(tmp_path).openapi()

    def ref(path: str, method: str, status: str) -> str:
        content = schema["paths"][path][method]["responses"][status]["content"]
        return content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]

    expected = {
        ("/v1/runs", "post", "202"): "StartRunResponse",
        ("/v1/runs", "post", "422"): "ErrorBody",
        ("/v1/runs", "get", "200"): "RunPage",
        ("/v1/runs/{run_id}", "get", "200"): "Run",
        ("/v1/runs/{run_id}", "get", "404"): "ErrorBody",
        ("/v1/dead-letters", "get", "200"): "DeadLetterPage",
        ("/v1/dead-letters/{dead_letter_id}/replay", "post", "202"): "ReplayResponse",
    }
    for where, model in expected.items():
        got = ref(*where)
        assert got == model, f"expected {where} to answer {model}, got {got}"
    body = schema["components"]["schemas"]["StartRunRequest"]
    assert body.get("additionalProperties") is False, "requests forbid extra fields"
    assert "tenant" not in body["properties"], "the tenant is never client-set"
    events = schema["paths"]["/v1/runs/{run_id}/events"]["get"]["responses"]["200"]
    assert "text/event-stream" in events["content"], events


def test_openapi_schemathesis_no_5xx(tmp_path: Path):
    """Positive and negative requests generated from the schema (derandomized, a
    bounded number per operation) never get a 5xx answer."""
    app = _app(tmp_path)
    headers = {"X-API-Key": KEYS["acme"], "X-Admin-Key": ADMIN_KEY}
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 10, f"expected the API's routes, got {operations}"
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                strategy = operation.as_strategy(generation_mode=mode, headers=headers)

                @given(case=strategy)
                @settings(
                    max_examples=EXAMPLES[mode],
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck),
                )
                def no_server_error(case) -> None:
                    response = case.call()
                    case.validate_response(response, checks=[not_a_server_error])

                try:
                    no_server_error()
                except Unsatisfiable:
                    # nothing to make invalid: the operation takes no input at all
                    assert mode is GenerationMode.NEGATIVE, operation.label
    finally:
        shutdown_lifespans()  # closes the engine the app's lifespan opened
    assert not app.state.api.conveyor.is_open, "expected the engine closed again"
