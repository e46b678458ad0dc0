"""Tool adapters: `notify`, `retry_job`, `open_ticket` and `quarantine`, each an async
callable that POSTs a `ToolRequest` to its external service over HTTP.

Every call carries the step's idempotency key as an `Idempotency-Key` header, so a
retried or redelivered step has its effect once, and returns a `ToolResult` recorded
with that key. Failures are translated here, at the boundary: 5xx, 408, 429, timeouts
and network errors become `TransientToolError` (retryable; 408 and 429 are 4xx but by
definition ask to try again later), every other refusal `PermanentToolError`
(`retryable = False`, which conveyor's `RetryPolicy` honours).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Annotated, Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import PermanentToolError, TransientToolError
from .models import Category, NormalizedException, Scalar, Severity, TenantId
from .playbooks import PlaybookStep, ToolName
from .triage import Triage

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_SUMMARY_CHARS = 500
_KEY = re.compile(r"^[!-~]{1,200}$")
_RETRY_LATER = frozenset({408, 429})


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool's contract: its endpoint path and the parameters it cannot do without."""

    name: ToolName
    path: str
    required: tuple[str, ...] = ()


TOOL_SPECS: Mapping[ToolName, ToolSpec] = {
    ToolName.NOTIFY: ToolSpec(ToolName.NOTIFY, "/notifications"),
    ToolName.RETRY_JOB: ToolSpec(ToolName.RETRY_JOB, "/jobs/retries", ("job_id",)),
    ToolName.OPEN_TICKET: ToolSpec(ToolName.OPEN_TICKET, "/tickets"),
    ToolName.QUARANTINE: ToolSpec(ToolName.QUARANTINE, "/quarantines", ("target",)),
}


class ToolRequest(BaseModel):
    """What a tool is asked to act on: the exception, its triage, the step's params."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: ToolName
    tenant: TenantId
    exception_id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    category: Category
    severity: Severity
    source: str
    kind: str
    summary: Annotated[str, StringConstraints(max_length=MAX_SUMMARY_CHARS)]
    external_ref: str | None = None
    params: dict[str, Scalar] = Field(default_factory=dict)

    @classmethod
    def for_step(
        cls,
        exception_id: str,
        exception: NormalizedException,
        triage: Triage,
        step: PlaybookStep,
    ) -> ToolRequest:
        """The request of `step` for `exception`. A required parameter the step does
        not fix is taken from the exception's attributes (a quarantine's `target`
        also from its external reference)."""
        params = dict(step.params)
        for name in TOOL_SPECS[step.tool].required:
            if params.get(name) is None:
                fallback = exception.attributes.get(name)
                if fallback is None and name == "target":
                    fallback = exception.external_ref
                if fallback is not None:
                    params[name] = fallback
        return cls(
            tool=step.tool,
            tenant=exception.tenant,
            exception_id=exception_id,
            category=triage.category,
            severity=triage.severity,
            source=exception.source,
            kind=exception.kind,
            summary=exception.message[:MAX_SUMMARY_CHARS],
            external_ref=exception.external_ref,
            params=params,
        )


class ToolResult(BaseModel):
    """A successful tool call as recorded: with its idempotency key and the id the
    external service gave the effect. `replayed` says the service had already
    done it under that key and answered from its record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tool: ToolName
    tenant: str
    exception_id: str
    idempotency_key: str
    external_id: str
    status_code: int
    replayed: bool = False
    response: dict[str, Any] = Field(default_factory=dict)


class ToolSettings(BaseSettings):
    """Where the external services live (environment prefix `EXCEPTIONS_TOOLS_`):
    one `base_url` for all, or a URL per tool."""

    model_config = SettingsConfigDict(env_prefix="EXCEPTIONS_TOOLS_", extra="ignore")

    base_url: str = "http://127.0.0.1:8780"
    notify_url: str = ""
    retry_job_url: str = ""
    open_ticket_url: str = ""
    quarantine_url: str = ""
    timeout_s: float = Field(10.0, gt=0)
    max_connections: int = Field(
        32,
        ge=1,
        le=1000,
        description="Calls in flight at once per process, each on a connection "
        "kept open; more wait their turn.",
    )

    def url_for(self, tool: ToolName) -> str:
        """The full endpoint URL of `tool`."""
        own: str = getattr(self, f"{tool.value}_url")
        return (own.strip() or self.base_url).rstrip("/") + TOOL_SPECS[tool].path


class HttpTool:
    """One tool adapter: `await tool(request, idempotency_key=key)`."""

    __slots__ = ("client", "spec", "timeout_s", "url")

    def __init__(
        self, spec: ToolSpec, url: str, client: httpx.AsyncClient, timeout_s: float
    ) -> None:
        self.spec = spec
        self.url = url
        self.client = client
        self.timeout_s = timeout_s

    @property
    def name(self) -> ToolName:
        """The tool this adapter calls."""
        return self.spec.name

    async def __call__(
        self, request: ToolRequest, *, idempotency_key: str
    ) -> ToolResult:
        """Call the service once.

        Raises:
            TransientToolError: the service may succeed on another attempt.
            PermanentToolError: it will not (bad request or key, 4xx, bad answer).
        """
        self._check(request, idempotency_key)
        response = await self._post(request, idempotency_key)
        return self._result(request, idempotency_key, response)

    def _check(self, request: ToolRequest, idempotency_key: str) -> None:
        tool = self.name.value
        if request.tool is not self.name:
            raise PermanentToolError(tool, f"was handed a {request.tool} request")
        if not _KEY.match(idempotency_key):
            raise PermanentToolError(
                tool, "the idempotency key must be 1-200 printable ASCII characters"
            )
        missing = [n for n in self.spec.required if request.params.get(n) is None]
        if missing:
            raise PermanentToolError(
                tool, f"missing parameter(s): {', '.join(missing)}"
            )

    async def _post(self, request: ToolRequest, idempotency_key: str) -> httpx.Response:
        tool = self.name.value
        try:
            response = await self.client.post(
                self.url,
                json=request.model_dump(mode="json"),
                headers={IDEMPOTENCY_HEADER: idempotency_key},
                timeout=self.timeout_s,
            )
        except httpx.TimeoutException as exc:
            raise TransientToolError(tool, f"timed out ({type(exc).__name__})") from exc
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise PermanentToolError(tool, f"bad service URL: {exc}") from exc
        except httpx.RequestError as exc:
            raise TransientToolError(tool, f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status >= 500 or status in _RETRY_LATER:
            raise TransientToolError(tool, _problem(response), status_code=status)
        if not 200 <= status < 300:
            raise PermanentToolError(tool, _problem(response), status_code=status)
        return response

    def _result(
        self, request: ToolRequest, idempotency_key: str, response: httpx.Response
    ) -> ToolResult:
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            # retrying under the same key would only replay the same answer
            raise PermanentToolError(
                self.name.value,
                "the service answered without a JSON object carrying an id",
                status_code=response.status_code,
            )
        return ToolResult(
            tool=self.name,
            tenant=request.tenant,
            exception_id=request.exception_id,
            idempotency_key=idempotency_key,
            external_id=body["id"],
            status_code=response.status_code,
            replayed=response.headers.get(REPLAYED_HEADER, "").lower() == "true",
            response=body,
        )


def _problem(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    text = detail if isinstance(detail, str) else response.text
    return (text or response.reason_phrase)[:200]


class Toolbox:
    """The four adapters over one HTTP client; owns (and closes) the client unless
    one is passed in.

    Args:
        settings: where the services live (default: from the environment).
        client: an `httpx.AsyncClient` to share, e.g. with a mock transport.
    """

    def __init__(
        self,
        settings: ToolSettings | None = None,
        *,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.settings = settings or ToolSettings()
        self._owns_client = client is None
        if client is None:
            # as many connections kept as may be in use: a busy worker would
            # otherwise close and reopen connections past the keep-alive bound
            size = self.settings.max_connections
            limits = httpx.Limits(max_connections=size, max_keepalive_connections=size)
            client = httpx.AsyncClient(timeout=self.settings.timeout_s, limits=limits)
        self.client = client
        # Calls wait here, not in httpcore's pool, which matches every waiting
        # request against every connection each time one frees up: hundreds of
        # stage runs calling at once made that the tool stage's main cost.
        self._slots = asyncio.Semaphore(self.settings.max_connections)
        self._tools = {
            name: HttpTool(
                spec, self.settings.url_for(name), self.client, self.settings.timeout_s
            )
            for name, spec in TOOL_SPECS.items()
        }

    @property
    def notify(self) -> HttpTool:
        """Tell the tenant's team (or ask it for approval)."""
        return self._tools[ToolName.NOTIFY]

    @property
    def retry_job(self) -> HttpTool:
        """Ask the job system to run a failed job again."""
        return self._tools[ToolName.RETRY_JOB]

    @property
    def open_ticket(self) -> HttpTool:
        """Open a ticket in the tenant's tracker."""
        return self._tools[ToolName.OPEN_TICKET]

    @property
    def quarantine(self) -> HttpTool:
        """Set the affected object aside so nothing else touches it."""
        return self._tools[ToolName.QUARANTINE]

    def __getitem__(self, tool: ToolName | str) -> HttpTool:
        return self._tools[ToolName(tool)]

    async def run(self, request: ToolRequest, *, idempotency_key: str) -> ToolResult:
        """Call the adapter of `request.tool` (at most `max_connections` calls
        at once)."""
        async with self._slots:
            return await self[request.tool](request, idempotency_key=idempotency_key)

    async def aclose(self) -> None:
        """Close the HTTP client if this toolbox created it."""
        if self._owns_client:
            await self.client.aclose()

    async def __aenter__(self) -> Toolbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
