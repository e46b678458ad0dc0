"""Values handed from stage to stage survive conveyor's durable boundary unchanged,
so a worker can checkpoint them and the next one can revive them typed."""

from __future__ import annotations

from typing import Any

from exceptions_support import ExceptionFactory

from conveyor.serde import dumps, loads, revive, to_jsonable
from conveyor_apps.exceptions import (
    NormalizedException,
    PlaybookSelection,
    PolicyDecision,
    ToolRequest,
    ToolResult,
    Triage,
    decide,
    load_tenants,
    select_playbook,
    triage,
)


def _round_trip(value: Any) -> Any:
    return revive(type(value), loads(dumps(to_jsonable(value))))


def test_stage_values_round_trip(exception_for: ExceptionFactory) -> None:
    """Exception, triage, decision, selection, request and result all round-trip."""
    exception = exception_for(attributes={"job_id": "j-1", "ratio": 0.5, "ok": True})
    triaged = triage(exception)
    decision = decide(exception, triaged, load_tenants().get("acme"))
    selection = select_playbook(triaged, decision)
    request = ToolRequest.for_step("exc-1", exception, triaged, selection.steps[0])
    result = ToolResult(
        tool=request.tool,
        tenant="acme",
        exception_id="exc-1",
        idempotency_key="run:1",
        external_id="x-1",
        status_code=201,
        response={"id": "x-1"},
    )
    values: list[Any] = [exception, triaged, decision, selection, request, result]
    expected_types = (
        NormalizedException,
        Triage,
        PolicyDecision,
        PlaybookSelection,
        ToolRequest,
        ToolResult,
    )
    for value, kind in zip(values, expected_types, strict=True):
        revived = _round_trip(value)
        assert isinstance(revived, kind), f"expected {kind.__name__}"
        assert revived == value, f"{kind.__name__} changed on the way: {revived}"


def test_fingerprint_survives_the_round_trip(exception_for: ExceptionFactory) -> None:
    """A revived exception keeps its fingerprint and its dedupe key."""
    exception = exception_for(idempotency_key="client-1")
    revived = _round_trip(exception)
    assert (revived.fingerprint, revived.dedupe_key) == (
        exception.fingerprint,
        "client-1",
    )
