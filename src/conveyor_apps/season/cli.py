"""What `conveyor season plan` does: run a season plan — through a server's API and
WebSocket stream, or in this process — show each agent's progress as it happens,
then print the plan and exit with a code that says how it went."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import httpx
import typer
from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from conveyor import Conveyor, Settings
from conveyor.bus.base import Topic
from conveyor.cli.common import err, print_json
from conveyor.cli.exits import ExitCode
from conveyor.client import ClientError, ServerUnreachableError
from conveyor.errors import AgentTimeoutError, ConveyorError, ValidationFailedError

from .cli_view import PlanView, plan_summary
from .errors import SeasonError
from .failures import error_message, status_of
from .handoffs import PlanRequest, SeasonPlan
from .messages import message_for
from .orchestrator import SeasonOrchestrator

EXIT_BY_STATUS = {
    401: ExitCode.USAGE,
    403: ExitCode.USAGE,
    404: ExitCode.NOT_FOUND,
    409: ExitCode.RUN_CANCELLED,
    422: ExitCode.USAGE,
    502: ExitCode.UNAVAILABLE,
    503: ExitCode.UNAVAILABLE,
    504: ExitCode.TIMED_OUT,
}


PLAN_FAILURES = (SeasonError, ValidationFailedError, AgentTimeoutError)
"""Why a plan fails, as opposed to the engine failing to run it."""


class PlanError(ConveyorError):
    """The season plan failed."""

    def __init__(
        self, status: int, error: str, message: str, details: Any = None
    ) -> None:
        self.status = status
        self.error = error
        self.error_details = details
        super().__init__(message)

    @property
    def exit_code(self) -> ExitCode:
        """How the command ends."""
        return EXIT_BY_STATUS.get(self.status, ExitCode.RUN_FAILED)


async def plan_season(
    strategy: str,
    category: str,
    *,
    url: str | None,
    api_key: str | None,
    timeout_s: float | None,
    as_json: bool,
) -> ExitCode:
    """Plan, show progress on stderr and the plan on stdout; the exit code."""
    try:
        request = PlanRequest(strategy_description=strategy, category_id=category)
    except ValidationError as exc:
        problem = exc.errors()[0]
        name = "STRATEGY" if problem["loc"][0] == "strategy_description" else None
        raise typer.BadParameter(
            problem["msg"], param_hint=name or "--category"
        ) from None
    view = PlanView(err, quiet=as_json)
    try:
        async with asyncio.timeout(timeout_s):
            with view:
                if url is None:
                    plan = await _plan_here(request, view)
                else:
                    plan = await _plan_remote(request, url, api_key, view)
    except PlanError as failure:
        _report(failure, as_json)
        return failure.exit_code
    except TimeoutError as exc:
        if str(exc):
            raise
        raise TimeoutError(f"no plan within {timeout_s:g} s") from None
    if as_json:
        print_json(plan.model_dump(mode="json"))
    else:
        plan_summary(plan)
    return ExitCode.OK


# in this process -------------------------------------------------------------------
async def _plan_here(request: PlanRequest, view: PlanView) -> SeasonPlan:
    conveyor = Conveyor(settings=Settings())
    season = SeasonOrchestrator(conveyor)
    session_id = uuid.uuid4().hex
    try:
        async with conveyor:
            subscription = conveyor.bus.subscribe(Topic(session_id=session_id))
            try:
                handle = await season.start_plan(request, session_id=session_id)
                async for event in subscription:
                    message = message_for(event, session_id)
                    if message is not None and view.show(message, handle.run_id):
                        break
                return await season.plan_result(handle.run_id)
            finally:
                await subscription.aclose()
    except PLAN_FAILURES as exc:
        raise PlanError(
            status_of(exc), type(exc).__name__, error_message(exc), exc.details()
        ) from exc
    finally:
        await season.aclose()


# through a server ------------------------------------------------------------------
async def _plan_remote(
    request: PlanRequest, url: str, api_key: str | None, view: PlanView
) -> SeasonPlan:
    session_id = uuid.uuid4().hex
    headers = {"X-API-Key": api_key} if api_key else {}
    base = url.rstrip("/")
    async with (
        _stream(base, session_id, headers) as messages,
        httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http,
    ):
        body = {**request.model_dump(), "session_id": session_id, "background": True}
        try:
            response = await http.post("/api/orchestrator/run-workflow", json=body)
        except httpx.HTTPError as exc:
            raise ServerUnreachableError(base, str(exc) or type(exc).__name__) from exc
        answer = _json(response)
        if response.is_error:
            raise _plan_error(response.status_code, answer)
        run_id = str(answer["run_id"])
        async for message in messages:
            if not view.show(message, run_id):
                continue
            if message["type"] == "complete":
                return SeasonPlan.model_validate(message["result"])
            error = message.get("error") or {}
            raise PlanError(
                int(message.get("status_code") or 500),
                str(error.get("type", "Error")),
                str(error.get("message", "")),
                error.get("details"),
            )
    raise ServerUnreachableError(base, "the progress stream closed before the end")


@asynccontextmanager
async def _stream(
    base: str, session_id: str, headers: dict[str, str]
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The session's WebSocket messages, once its `connected` message says the
    stream is live (so no message of the run about to start is missed)."""
    parts = urlsplit(base)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = f"{parts.path}/ws/orchestrator/{quote(session_id, safe='')}"
    url = urlunsplit((scheme, parts.netloc, path, "", ""))
    try:
        ws = await connect(url, additional_headers=headers, ping_interval=None)
    except InvalidStatus as exc:
        raise _plan_error(
            exc.response.status_code, _json_bytes(exc.response.body)
        ) from None
    except (OSError, WebSocketException) as exc:
        raise ServerUnreachableError(base, str(exc) or type(exc).__name__) from exc
    try:
        first = json.loads(await ws.recv())
        if first.get("type") != "connected":
            raise ClientError(None, "InvalidResponse", f"unexpected message {first}")
        yield _messages(ws)
    finally:
        await ws.close()


async def _messages(ws: ClientConnection) -> AsyncIterator[dict[str, Any]]:
    async for raw in ws:
        message = json.loads(raw)
        if isinstance(message, dict):
            yield message


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    return body if isinstance(body, dict) else {"message": response.text[:500]}


def _json_bytes(raw: bytes | bytearray | None) -> dict[str, Any]:
    try:
        body = json.loads(bytes(raw or b""))
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _plan_error(status: int, body: dict[str, Any]) -> PlanError:
    return PlanError(
        status,
        str(body.get("error") or f"HTTP{status}"),
        str(body.get("message") or ""),
        body.get("details"),
    )


def _report(failure: PlanError, as_json: bool) -> None:
    if as_json:
        body = {
            "error": failure.error,
            "message": failure.message,
            "status": failure.status,
            "details": failure.error_details,
        }
        print(json.dumps(body), file=sys.stderr)
        return
    err.print(f"[bold red]error:[/] {failure.error} ({failure.status}): ", end="")
    err.print(failure.message, markup=False, highlight=False)
