"""Tool adapters send the idempotency key, build typed results, and classify every
failure as transient (retryable) or permanent, at the HTTP boundary."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from exceptions_support import ExceptionFactory

from conveyor_apps.exceptions import (
    Category,
    PermanentToolError,
    PlaybookStep,
    Severity,
    Toolbox,
    ToolName,
    ToolRequest,
    ToolSettings,
    TransientToolError,
    Triage,
)

Handler = Callable[[httpx.Request], httpx.Response]
TRIAGED = Triage(category=Category.PAYMENTS, severity=Severity.HIGH)


def _request(
    exception_for: ExceptionFactory, tool: ToolName = ToolName.NOTIFY, **params: str
) -> ToolRequest:
    step = PlaybookStep(tool=tool, params=params)
    return ToolRequest.for_step("exc-1", exception_for(), TRIAGED, step)


def _toolbox(handler: Handler, base_url: str = "http://svc") -> Toolbox:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return Toolbox(ToolSettings(base_url=base_url), client=client)


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201, json={"id": "ext-1", "echo": json.loads(request.content)}
    )


async def test_call_sends_key_and_returns_typed_result(
    exception_for: ExceptionFactory,
) -> None:
    """The key travels as Idempotency-Key; the result records it and the effect id."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _ok(request)

    async with _toolbox(handler, base_url="http://svc/") as box:
        result = await box.notify(_request(exception_for), idempotency_key="run-1:3")
        await box.client.aclose()
    assert str(seen[0].url) == "http://svc/notifications", seen[0].url
    assert seen[0].headers["Idempotency-Key"] == "run-1:3"
    assert (result.tool, result.external_id) == (ToolName.NOTIFY, "ext-1")
    assert (result.idempotency_key, result.status_code) == ("run-1:3", 201)
    assert (result.tenant, result.exception_id, result.replayed) == (
        "acme",
        "exc-1",
        False,
    )
    assert result.response["echo"]["category"] == "payments", result.response


async def test_replay_header_is_reported(exception_for: ExceptionFactory) -> None:
    """An answer marked Idempotent-Replayed is recorded as replayed."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201, json={"id": "ext-1"}, headers={"Idempotent-Replayed": "true"}
        )

    box = _toolbox(handler)
    result = await box.run(_request(exception_for), idempotency_key="k")
    await box.client.aclose()
    assert result.replayed, "the replay header must be surfaced"


def test_urls_per_tool_override_the_base() -> None:
    """Each tool may live at its own URL; the rest share the base URL."""
    settings = ToolSettings(
        base_url="http://shared:1/", quarantine_url=" http://vault:2/api/ "
    )
    assert settings.url_for(ToolName.QUARANTINE) == "http://vault:2/api/quarantines"
    assert settings.url_for(ToolName.RETRY_JOB) == "http://shared:1/jobs/retries"
    assert settings.url_for(ToolName.OPEN_TICKET) == "http://shared:1/tickets"


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408, 429])
async def test_server_errors_are_transient(
    exception_for: ExceptionFactory, status: int
) -> None:
    """5xx, 408 and 429 answers raise TransientToolError (retryable)."""
    box = _toolbox(lambda _: httpx.Response(status, json={"detail": "busy"}))
    with pytest.raises(TransientToolError) as caught:
        await box.notify(_request(exception_for), idempotency_key="k")
    await box.client.aclose()
    assert (caught.value.status_code, caught.value.retryable) == (status, True)
    assert caught.value.problem == "busy", caught.value.problem


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 302])
async def test_client_errors_are_permanent(
    exception_for: ExceptionFactory, status: int
) -> None:
    """Other non-2xx answers raise PermanentToolError (retryable = False)."""
    box = _toolbox(lambda _: httpx.Response(status, text="no such thing"))
    with pytest.raises(PermanentToolError) as caught:
        await box.notify(_request(exception_for), idempotency_key="k")
    await box.client.aclose()
    assert (caught.value.status_code, caught.value.retryable) == (status, False)
    assert caught.value.problem == "no such thing", caught.value.problem


async def test_empty_error_body_falls_back_to_reason(
    exception_for: ExceptionFactory,
) -> None:
    """An error without a body is described by its reason phrase."""
    box = _toolbox(lambda _: httpx.Response(404))
    with pytest.raises(PermanentToolError, match="Not Found"):
        await box.notify(_request(exception_for), idempotency_key="k")
    await box.client.aclose()


@pytest.mark.parametrize(
    "error",
    [
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.ConnectTimeout("slow"),
        httpx.RemoteProtocolError("hung up"),
        httpx.ReadError("reset"),
    ],
)
async def test_network_errors_are_transient(
    exception_for: ExceptionFactory, error: httpx.RequestError
) -> None:
    """Timeouts and connection errors raise TransientToolError from the cause."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise error

    box = _toolbox(handler)
    with pytest.raises(TransientToolError) as caught:
        await box.notify(_request(exception_for), idempotency_key="k")
    await box.client.aclose()
    assert caught.value.__cause__ is error, "the httpx error is kept as the cause"
    assert caught.value.status_code is None


async def test_bad_url_is_permanent(exception_for: ExceptionFactory) -> None:
    """A service URL httpx cannot use is a permanent (configuration) failure."""
    async with Toolbox(ToolSettings(base_url="ftp://svc")) as box:
        with pytest.raises(PermanentToolError, match="bad service URL"):
            await box.notify(_request(exception_for), idempotency_key="k")


@pytest.mark.parametrize(
    "body", [b"not json", b"[1, 2]", b'{"no_id": true}', b'{"id": 7}']
)
async def test_answer_without_id_is_permanent(
    exception_for: ExceptionFactory, body: bytes
) -> None:
    """A 2xx answer without a JSON id is permanent: a retry would replay it."""
    box = _toolbox(lambda _: httpx.Response(200, content=body))
    with pytest.raises(PermanentToolError, match="without a JSON object") as caught:
        await box.notify(_request(exception_for), idempotency_key="k")
    await box.client.aclose()
    assert caught.value.status_code == 200


@pytest.mark.parametrize("key", ["", "has space", "line\nbreak", "k" * 201])
async def test_bad_idempotency_key_is_refused(
    exception_for: ExceptionFactory, key: str
) -> None:
    """A key that cannot travel as a header is refused before any call."""
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return _ok(request)

    box = _toolbox(handler)
    with pytest.raises(PermanentToolError, match="idempotency key"):
        await box.notify(_request(exception_for), idempotency_key=key)
    await box.client.aclose()
    assert calls == [], "nothing may be sent without a usable key"


async def test_missing_required_parameter_is_permanent(
    exception_for: ExceptionFactory,
) -> None:
    """retry_job without a job id fails permanently, before any call."""
    exception = exception_for(attributes={})
    step = PlaybookStep(tool=ToolName.RETRY_JOB)
    request = ToolRequest.for_step("exc-1", exception, TRIAGED, step)
    box = _toolbox(_ok)
    with pytest.raises(PermanentToolError, match="missing parameter"):
        await box.retry_job(request, idempotency_key="k")
    await box.client.aclose()


async def test_adapter_refuses_another_tools_request(
    exception_for: ExceptionFactory,
) -> None:
    """Handing a notify request to the ticket adapter is a permanent error."""
    box = _toolbox(_ok)
    with pytest.raises(PermanentToolError, match="was handed a notify request"):
        await box.open_ticket(_request(exception_for), idempotency_key="k")
    await box.client.aclose()


def test_required_parameters_fall_back_to_the_exception(
    exception_for: ExceptionFactory,
) -> None:
    """A missing job id comes from the attributes, a target from external_ref."""
    exception = exception_for(external_ref="pallet-9", attributes={"job_id": "j-1"})
    retry = ToolRequest.for_step(
        "e", exception, TRIAGED, PlaybookStep(tool=ToolName.RETRY_JOB)
    )
    quarantine = ToolRequest.for_step(
        "e", exception, TRIAGED, PlaybookStep(tool=ToolName.QUARANTINE)
    )
    fixed = ToolRequest.for_step(
        "e",
        exception,
        TRIAGED,
        PlaybookStep(tool=ToolName.QUARANTINE, params={"target": "bin-1"}),
    )
    assert retry.params == {"job_id": "j-1"}, retry.params
    assert quarantine.params == {"target": "pallet-9"}, quarantine.params
    assert fixed.params == {"target": "bin-1"}, fixed.params


async def test_toolbox_exposes_the_four_adapters() -> None:
    """notify, retry_job, open_ticket and quarantine, by attribute and by name."""
    async with httpx.AsyncClient() as client, Toolbox(client=client) as box:
        for name in ToolName:
            assert getattr(box, name.value) is box[name] is box[name.value]
            assert box[name].name is name
    assert client.is_closed, "the caller's client is closed by the caller"


async def test_toolbox_leaves_a_shared_client_open() -> None:
    """Closing a toolbox does not close a client it was given."""
    async with httpx.AsyncClient() as client:
        await Toolbox(client=client).aclose()
        assert not client.is_closed, "a shared client must stay open"
