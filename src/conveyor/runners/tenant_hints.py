"""`TenantHints`: what workers tell each other, over the bus's control messages,
about tenants held at their concurrency limit.

A worker whose admission line fills up says so (`tenant.waiting`, at most once
a second per tenant); for a few seconds after hearing it, a worker on which a run
of that tenant ends with none of its runs waiting there says a slot freed
(`tenant.slot`), and the waiting workers claim at once instead of at their next
probe. Hints are only hints: a lost one costs a probe interval, a spurious one a
refused claim. Tenants nobody waits for cost no messages.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from ..bus.base import Control

WAITING_HINT = "tenant.waiting"
"""Control kind: runs of `data["tenant"]` wait on a worker for a slot."""
SLOT_HINT = "tenant.slot"
"""Control kind: a slot of `data["tenant"]` freed on a worker with none waiting."""

SendFn = Callable[[Control], None]


class TenantHints:
    """The hints one worker sends and has heard.

    Args:
        send: sends a control message without waiting (the hints are best effort).
        contended_s: how long a waiting hint counts; a full line probes, and says
            so again, well within it.
        repeat_s: the least time between two waiting hints of one tenant.
    """

    def __init__(
        self, send: SendFn, contended_s: float = 5.0, repeat_s: float = 1.0
    ) -> None:
        self._send = send
        self.contended_s = contended_s
        self.repeat_s = repeat_s
        self._contended: dict[str, float] = {}
        self._announced: dict[str, float] = {}

    def full(self, tenant: str) -> None:
        """Runs of `tenant` wait here: ask the others to say when a slot frees."""
        now = time.monotonic()
        if now - self._announced.get(tenant, -self.repeat_s) >= self.repeat_s:
            self._announced[tenant] = now
            self._send(Control(WAITING_HINT, "", {"tenant": tenant}))

    def freed(self, tenant: str) -> None:
        """A slot of `tenant` freed here and nothing here takes it: tell the
        workers waiting for one, if any said so lately."""
        if self._contended.get(tenant, 0.0) > time.monotonic():
            self._send(Control(SLOT_HINT, "", {"tenant": tenant}))

    def heard(self, message: Control) -> str | None:
        """Take in a control message; the tenant to wake if a slot freed."""
        tenant = str(message.data.get("tenant"))
        if message.kind == WAITING_HINT:
            self._contended[tenant] = time.monotonic() + self.contended_s
        elif message.kind == SLOT_HINT:
            return tenant
        return None

    def prune(self) -> None:
        """Forget the tenants nobody has waited for lately."""
        now = time.monotonic()
        self._contended = {t: u for t, u in self._contended.items() if u > now}
        self._announced = {
            t: at for t, at in self._announced.items() if now - at < self.contended_s
        }
