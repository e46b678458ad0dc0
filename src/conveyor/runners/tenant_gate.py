"""`TenantGate`: a worker's runs waiting for a slot under their tenant's
concurrency limit, claimed one at a time per tenant and only when a slot may be
free.

The limit itself is decided by the store's claim (it counts the tenant's live
leases under a lock), so it holds exactly across workers whatever this bookkeeping
believes. The gate only decides *when to ask*: a refused run is parked here rather
than claimed again in a loop, and the tenant's line is woken by what frees a slot —
a run of the tenant ending on this worker, a hint from another worker, or a probe
after `probe_s` (a lost hint, a dead worker's lease expiring). Each tenant has at
most one claim in flight per worker: claims of one tenant queue on its lock in the
database anyway, and a flood of them would hold every pooled connection.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from ..errors import StoreError
from ..runs import RunRecord
from ..store.postgres import Claim

log = logging.getLogger(__name__)

ClaimFn = Callable[[RunRecord], Awaitable[Claim]]
AdmitFn = Callable[[RunRecord, Claim], None]
FullFn = Callable[[str], None]


@dataclass(slots=True)
class TenantLine:
    """One tenant's runs waiting on this worker, in arrival order."""

    waiting: deque[RunRecord] = field(default_factory=deque)
    open: bool = True
    """No claim has been refused for the limit since the line last had room:
    claim until one is."""
    credit: int = 0
    """Slots that freed since (wakes not yet used by a claim)."""
    refused_at: float = 0.0
    claiming: int = 0
    """Claims in flight (their runs are out of `waiting`)."""


class TenantGate:
    """Parks runs refused for their tenant's limit and claims them when a slot of
    that tenant may have freed.

    Args:
        claim: claims one run under its tenant's limit.
        admit: takes the outcome of every claim but a refusal for the limit (the
            run won, or the store refused it for another reason).
        on_full: called when a tenant's line fills up (a claim was refused for
            the limit), so other workers can be asked for hints.
        probe_s: how long a full line waits without a wake before one claim
            checks again.
    """

    def __init__(
        self,
        claim: ClaimFn,
        admit: AdmitFn,
        on_full: FullFn | None = None,
        probe_s: float = 1.0,
    ) -> None:
        self._claim = claim
        self._admit = admit
        self._on_full = on_full
        self.probe_s = probe_s
        self.lines: dict[str, TenantLine] = {}
        self.claims = 0
        self.refusals = 0
        self.paused = False
        self._tasks: set[asyncio.Task[None]] = set()

    # what the worker tells the gate ---------------------------------------------
    def offer(self, run: RunRecord) -> None:
        """Queue a run behind its tenant's earlier ones here; claim it if the line
        has room."""
        self.lines.setdefault(run.tenant, TenantLine()).waiting.append(run)
        self._pump(run.tenant)

    def wake(self, tenant: str) -> bool:
        """A slot of `tenant` freed: the next run waiting here may take it.
        Returns whether any run of the tenant waits here."""
        line = self.lines.get(tenant)
        if line is None or not line.waiting:
            return False
        line.credit = min(line.credit + 1, len(line.waiting))
        self._pump(tenant)
        return True

    def probe(self) -> None:
        """Let each line that has been full for `probe_s` claim again."""
        now = time.monotonic()
        for tenant, line in list(self.lines.items()):
            if not line.open and now - line.refused_at >= self.probe_s:
                line.open = True
                self._pump(tenant)

    def is_full(self, tenant: str) -> bool:
        """Whether runs of `tenant` wait here for a slot."""
        line = self.lines.get(tenant)
        return line is not None and bool(line.waiting) and not line.open

    def waiting_ids(self) -> list[str]:
        """Every run waiting here."""
        return [run.id for line in self.lines.values() for run in line.waiting]

    def take_all(self) -> list[RunRecord]:
        """Empty the gate (a worker handing its waiting runs over)."""
        runs = [run for line in self.lines.values() for run in line.waiting]
        self.lines.clear()
        return runs

    async def aclose(self) -> None:
        """Claim nothing more; wait for the claims in flight."""
        self.paused = True
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # claiming --------------------------------------------------------------------
    def _pump(self, tenant: str) -> None:
        """Start the claims the line may make now: while it is open, one at a
        time until one is refused (a burst of arrivals must not become a burst
        of claims queueing on the tenant's lock); besides, one per freed slot at
        once (claims in a row would leave slots idle meanwhile)."""
        line = self.lines.get(tenant)
        if line is None or self.paused:
            return
        if not line.waiting and not line.claiming:
            del self.lines[tenant]
            return
        while line.waiting and (line.credit > 0 or (line.open and not line.claiming)):
            line.credit = max(0, line.credit - 1)
            line.claiming += 1
            task = asyncio.create_task(
                self._claim_one(tenant, line, line.waiting.popleft())
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _claim_one(self, tenant: str, line: TenantLine, run: RunRecord) -> None:
        """Claim `run`: hand it to the worker, or put it back at the head of the
        line if its tenant is full (or the store is away: the probe retries)."""
        self.claims += 1
        claim: Claim | None = None
        try:
            claim = await self._claim(run)
        except StoreError as exc:
            log.debug("claim of %s failed: %s", run.id, exc)
        except Exception:  # the run stays in line whatever went wrong
            log.exception("claim of %s failed", run.id)
        finally:
            line.claiming -= 1
        if claim is None or claim.refused == "tenant":
            line.waiting.appendleft(run)
            self._filled(tenant, line)
        else:
            try:
                self._admit(run, claim)
            except Exception:  # one run's bookkeeping must not stall its tenant
                log.exception("admitting run %s failed", run.id)
        self._pump(tenant)

    def _filled(self, tenant: str, line: TenantLine) -> None:
        self.refusals += 1
        line.open = False
        line.refused_at = time.monotonic()
        if self._on_full is not None:
            self._on_full(tenant)
