"""`TenantHints`: a worker with runs waiting for a tenant's slot says so at most
once a second, and slot hints go out only for tenants someone waits for."""

from __future__ import annotations

from conveyor.bus.base import Control
from conveyor.runners.tenant_hints import SLOT_HINT, WAITING_HINT, TenantHints


def make_hints(**options: float) -> tuple[TenantHints, list[Control]]:
    sent: list[Control] = []
    return TenantHints(sent.append, **options), sent


def test_waiting_hints_are_rate_limited_per_tenant() -> None:
    """Two fills of one tenant within `repeat_s` send one hint; another tenant
    gets its own."""
    hints, sent = make_hints(repeat_s=60.0)
    hints.full("a")
    hints.full("a")
    hints.full("b")
    assert [(m.kind, m.data["tenant"]) for m in sent] == [
        (WAITING_HINT, "a"),
        (WAITING_HINT, "b"),
    ]


def test_slot_hints_only_for_tenants_someone_waits_for() -> None:
    """A freed slot is announced only after a waiting hint for that tenant was
    heard, and until it ages out."""
    hints, sent = make_hints(contended_s=60.0)
    hints.freed("a")
    assert sent == [], "nobody waits for a: no message"
    assert hints.heard(Control(WAITING_HINT, "", {"tenant": "a"})) is None
    hints.freed("a")
    hints.freed("b")
    assert [(m.kind, m.data["tenant"]) for m in sent] == [(SLOT_HINT, "a")]


def test_waiting_hints_age_out() -> None:
    """After `contended_s` without a new waiting hint, slots free silently."""
    hints, sent = make_hints(contended_s=0.0)
    hints.heard(Control(WAITING_HINT, "", {"tenant": "a"}))
    hints.prune()
    hints.freed("a")
    assert sent == []


def test_a_slot_hint_names_the_tenant_to_wake() -> None:
    """A slot hint heard returns its tenant; other control messages none."""
    hints, _ = make_hints()
    assert hints.heard(Control(SLOT_HINT, "", {"tenant": "a"})) == "a"
    assert hints.heard(Control("cancel", "run-1")) is None
