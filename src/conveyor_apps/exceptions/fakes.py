"""A local fake of the external services behind the tools, as a small FastAPI app.

It honours the contract the adapters rely on: a request without an `Idempotency-Key`
is refused, a repeated key replays the first answer (marked `Idempotent-Replayed:
true`) so a duplicated call has one effect, and a key reused for another request is
a conflict. It records every execution and can be told to fail (the next N calls or
all of them, with any status) or to stall, for fault tests. Control it in process
(`FakeServices`) or over HTTP under `/_fake/` when it runs in another process
(`uvicorn --factory conveyor_apps.exceptions.fakes:create_app`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from conveyor.serde import digest
from conveyor.testing.http import LocalServer

from .playbooks import ToolName
from .tools import IDEMPOTENCY_HEADER, REPLAYED_HEADER, TOOL_SPECS, ToolRequest


class Execution(BaseModel):
    """One effect the fake carried out."""

    model_config = ConfigDict(frozen=True)

    seq: int
    tool: ToolName
    idempotency_key: str
    external_id: str
    tenant: str
    exception_id: str
    params: dict[str, Any]


class Fault(BaseModel):
    """Fail (`status_code`) and/or stall (`delay_s`) the next `count` calls, or
    every call when `count` is None; only calls of `tool` unless it is None, and
    only those whose body contains `body_contains` unless it is None (a test
    aiming at one exception while others are in flight)."""

    model_config = ConfigDict(extra="forbid")

    count: int | None = Field(1, ge=1)
    status_code: int | None = Field(503, ge=400, le=599)
    delay_s: float = Field(0.0, ge=0, le=60)
    tool: ToolName | None = None
    body_contains: str | None = Field(None, min_length=1, max_length=200)


@dataclass(slots=True)
class _Answer:
    request_digest: str
    body: dict[str, Any]


class FakeServices:
    """The fake's state and its FastAPI `app`."""

    def __init__(self) -> None:
        self.executions: list[Execution] = []
        self.requests = 0
        self._faults: list[Fault] = []
        self._answers: dict[tuple[ToolName, str], _Answer] = {}
        self._locks: dict[tuple[ToolName, str], asyncio.Lock] = {}
        self._executed = asyncio.Condition()
        self.app = self._build()

    # fault injection -----------------------------------------------------------
    def inject(self, fault: Fault) -> None:
        """Add `fault`; faults apply in the order they were added."""
        self._faults.append(fault)

    def fail_next(
        self, count: int = 1, *, status_code: int = 503, tool: ToolName | None = None
    ) -> None:
        """Answer the next `count` calls with `status_code`, doing nothing."""
        self.inject(Fault(count=count, status_code=status_code, tool=tool))

    def fail_always(
        self, *, status_code: int = 400, tool: ToolName | None = None
    ) -> None:
        """Answer every call with `status_code` until `heal`."""
        self.inject(Fault(count=None, status_code=status_code, tool=tool))

    def stall_next(
        self,
        count: int = 1,
        *,
        delay_s: float,
        tool: ToolName | None = None,
        body_contains: str | None = None,
    ) -> None:
        """Wait `delay_s` before handling each of the next `count` calls (which then
        succeed, even if the caller gave up)."""
        self.inject(
            Fault(
                count=count, status_code=None, delay_s=delay_s, tool=tool,
                body_contains=body_contains,
            )
        )  # fmt: skip

    @property
    def pending_faults(self) -> int:
        """Faults injected and not yet used up."""
        return len(self._faults)

    def heal(self) -> None:
        """Drop every pending fault."""
        self._faults.clear()

    def reset(self) -> None:
        """Forget faults, executions, answers and counts."""
        self.heal()
        self.executions.clear()
        self._answers.clear()
        self._locks.clear()
        self.requests = 0

    def executions_of(self, tool: ToolName) -> list[Execution]:
        """The executions of `tool`, in order."""
        return [e for e in self.executions if e.tool is tool]

    def _take_fault(self, tool: ToolName, body: bytes) -> Fault | None:
        for fault in self._faults:
            aimed = fault.body_contains is None or fault.body_contains.encode() in body
            if fault.tool in (None, tool) and aimed:
                if fault.count is not None:
                    fault.count -= 1
                    if fault.count == 0:
                        self._faults.remove(fault)
                return fault
        return None

    # handling ------------------------------------------------------------------
    async def handle(self, tool: ToolName, request: Request) -> JSONResponse:
        """Serve one tool call. The body is read before any injected stall, so a
        caller that gives up during the stall still leaves the effect done."""
        self.requests += 1
        body = await request.body()
        fault = self._take_fault(tool, body)
        if fault is not None:
            await asyncio.sleep(fault.delay_s)
            if fault.status_code is not None:
                return _error(fault.status_code, "injected fault")
        key = request.headers.get(IDEMPOTENCY_HEADER)
        if not key:
            return _error(400, f"the {IDEMPOTENCY_HEADER} header is required")
        try:
            call = ToolRequest.model_validate_json(body)
        except ValidationError as exc:
            return _error(422, str(exc.errors(include_url=False)[0]["msg"]))
        if call.tool is not tool:
            return _error(422, f"a {call.tool} request sent to {tool}")
        request_digest = digest(call.model_dump(mode="json"))
        lock = self._locks.setdefault((tool, key), asyncio.Lock())
        async with lock:  # a concurrent duplicate waits and then replays
            answer = self._answers.get((tool, key))
            if answer is not None:
                if answer.request_digest != request_digest:
                    return _error(
                        409, f"{IDEMPOTENCY_HEADER} reused for another request"
                    )
                return JSONResponse(
                    answer.body, status_code=201, headers={REPLAYED_HEADER: "true"}
                )
            answer = self._execute(tool, key, call, request_digest)
        async with self._executed:
            self._executed.notify_all()
        return JSONResponse(answer.body, status_code=201)

    async def wait_for_executions(self, count: int, *, timeout_s: float = 10.0) -> None:
        """Return once at least `count` executions are recorded.

        Raises:
            TimeoutError: fewer happened within `timeout_s`.
        """
        async with asyncio.timeout(timeout_s), self._executed:
            await self._executed.wait_for(lambda: len(self.executions) >= count)

    def _execute(
        self, tool: ToolName, key: str, call: ToolRequest, request_digest: str
    ) -> _Answer:
        seq = len(self.executions) + 1
        external_id = f"{tool.value}-{seq:06d}"
        self.executions.append(
            Execution(
                seq=seq,
                tool=tool,
                idempotency_key=key,
                external_id=external_id,
                tenant=call.tenant,
                exception_id=call.exception_id,
                params=dict(call.params),
            )
        )
        body = {"id": external_id, "tool": tool.value, "status": "done"}
        answer = self._answers[tool, key] = _Answer(request_digest, body)
        return answer

    def _build(self) -> FastAPI:
        app = FastAPI(title="conveyor exceptions: fake external services")
        for name, spec in TOOL_SPECS.items():
            app.add_api_route(spec.path, _route(self, name), methods=["POST"])

        async def list_executions() -> list[dict[str, Any]]:
            return [e.model_dump(mode="json") for e in self.executions]

        async def stats() -> dict[str, int]:
            return {"requests": self.requests, "executions": len(self.executions)}

        async def add_fault(request: Request) -> JSONResponse:
            try:
                fault = Fault.model_validate_json(await request.body())
            except ValidationError as exc:
                return _error(422, str(exc.errors(include_url=False)[0]["msg"]))
            self.inject(fault)
            return JSONResponse({"faults": len(self._faults)}, status_code=201)

        async def heal() -> dict[str, int]:
            self.heal()
            return {"faults": 0}

        async def reset() -> dict[str, int]:
            self.reset()
            return {"executions": 0}

        app.add_api_route("/_fake/executions", list_executions, methods=["GET"])
        app.add_api_route("/_fake/stats", stats, methods=["GET"])
        app.add_api_route("/_fake/faults", add_fault, methods=["POST"])
        app.add_api_route("/_fake/faults", heal, methods=["DELETE"])
        app.add_api_route("/_fake/reset", reset, methods=["POST"])
        return app


def _route(services: FakeServices, tool: ToolName) -> Any:
    async def endpoint(request: Request) -> JSONResponse:
        return await services.handle(tool, request)

    endpoint.__name__ = f"fake_{tool.value}"
    return endpoint


def _error(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


def create_app() -> FastAPI:
    """A fresh fake's app (for `uvicorn --factory`)."""
    return FakeServices().app


class FakeServer(LocalServer):
    """The fake services on a real uvicorn server on a free 127.0.0.1 port, running
    as a task of the current event loop: `async with FakeServer() as server:`."""

    def __init__(self, services: FakeServices | None = None) -> None:
        self.services = services or FakeServices()
        super().__init__(self.services.app)
