"""`Admission`: the runs delivered to a worker, waiting for their turn to execute.

A worker pulls its partitions eagerly, so that a flood of one tenant's runs in the
stream cannot hide another tenant's runs behind it; what it pulled waits here, in
one line per tenant, and is admitted **tenant by tenant in turn** while the worker
has room (`capacity`: runs executing at once; a run waiting on a timer, a signal or
a child gives its place back meanwhile). A quiet tenant's run therefore waits for
the next free place, not behind everything the flood queued before it.

With a per-tenant concurrency limit, admission also decides *when to ask* the
store for a slot; the limit itself is decided by the store's claim (it counts the
tenant's live leases under a lock), so it holds exactly across workers whatever
this bookkeeping believes. A refused run waits at the head of its line rather
than being claimed again in a loop, and the line is woken by what frees a slot —
a run of the tenant ending on this worker, a hint from another worker, or a probe
after `probe_s` (a lost hint, a dead worker's lease expiring). A limited tenant
has at most one claim in flight per worker while its line is full: claims of one
tenant queue on its lock in the database anyway, and a flood of them would hold
every pooled connection.
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
    """No claim has been refused (for the tenant's limit, or by a store away)
    since the line last had room: claim until one is."""
    credit: int = 0
    """Slots of a limited tenant that freed since (wakes not yet used by a claim)."""
    refused_at: float = 0.0
    claiming: int = 0
    """Claims in flight (their runs are out of `waiting`)."""


class Admission:
    """Admits a worker's waiting runs tenant by tenant, within its capacity and
    (when `limited`) their tenant's concurrency limit.

    Args:
        claim: claims one run in the store (under its tenant's limit if any).
        admit: takes the outcome of every claim but a refusal for the limit (the
            run won, or the store refused it for another reason); a won run holds
            a place until `release`.
        capacity: runs executing at once on this worker (None: no bound).
        limited: whether claims may be refused for the tenant's limit.
        on_full: called when a tenant's line fills up (a claim was refused for
            the limit), so other workers can be asked for hints.
        probe_s: how long a closed line waits without a wake before one claim
            checks again.
    """

    def __init__(
        self,
        claim: ClaimFn,
        admit: AdmitFn,
        *,
        capacity: int | None = None,
        limited: bool = True,
        on_full: FullFn | None = None,
        probe_s: float = 1.0,
    ) -> None:
        self._claim = claim
        self._admit = admit
        self.capacity = capacity
        self.limited = limited
        self._on_full = on_full
        self.probe_s = probe_s
        self.lines: dict[str, TenantLine] = {}
        self._turns: deque[str] = deque()
        """Tenants with a line, in the order their next turn comes: a tenant
        goes to the back once served, and one arriving with nothing waiting
        here goes to the front (a quiet tenant's run takes the next place)."""
        self.busy = 0
        """Places taken: claims in flight and admitted runs not idle."""
        self._waits: dict[str, int] = {}
        """Admitted runs still here → their waits in progress (a run holds a
        place while it has none)."""
        self._arrival: dict[str, int] = {}
        """Arrival number of each run in a line or being claimed."""
        self._arrivals = 0
        self.claims = 0
        self.refusals = 0
        self.paused = False
        self._tasks: set[asyncio.Task[None]] = set()

    # what the worker tells admission -------------------------------------------------
    def offer(self, run: RunRecord) -> None:
        """Queue a run behind its tenant's earlier ones here; admit what may go."""
        line = self.lines.get(run.tenant)
        if line is None:  # nothing of it waited: its turn comes first
            line = self.lines[run.tenant] = TenantLine()
            self._turns.appendleft(run.tenant)
        self._arrivals += 1
        self._arrival[run.id] = self._arrivals
        line.waiting.append(run)
        self._pump()

    def wake(self, tenant: str) -> bool:
        """A slot of a limited `tenant` freed: the next run waiting here may take
        it. Returns whether any run of the tenant waits here."""
        line = self.lines.get(tenant)
        if line is None or not line.waiting:
            return False
        line.credit = min(line.credit + 1, len(line.waiting))
        self._pump()
        return True

    def release(self, run_id: str) -> None:
        """An admitted run left this worker (ended or stopped): its place frees."""
        if self._waits.pop(run_id, None) == 0:
            self.busy -= 1
        self._pump()

    def wait_began(self, run_id: str) -> None:
        """An admitted run waits on a timer, a signal or a child: it gives its
        place back for the wait."""
        waits = self._waits.get(run_id)
        if waits is None:
            return
        self._waits[run_id] = waits + 1
        if waits == 0:
            self.busy -= 1
            self._pump()

    def wait_ended(self, run_id: str) -> None:
        """The wait is over: the run takes a place again, even beyond the
        capacity for a while (it was admitted already)."""
        waits = self._waits.get(run_id)
        if not waits:
            return
        self._waits[run_id] = waits - 1
        if waits == 1:
            self.busy += 1

    def probe(self) -> None:
        """Let each line closed for `probe_s` claim again."""
        now = time.monotonic()
        for line in self.lines.values():
            if not line.open and now - line.refused_at >= self.probe_s:
                line.open = True
        self._pump()

    def is_full(self, tenant: str) -> bool:
        """Whether runs of `tenant` wait here for a slot of their tenant."""
        line = self.lines.get(tenant)
        return line is not None and bool(line.waiting) and not line.open

    def waiting_ids(self) -> list[str]:
        """Every run waiting here."""
        return [run.id for line in self.lines.values() for run in line.waiting]

    def take_all(self) -> list[RunRecord]:
        """Empty the lines (a worker handing its waiting runs over, after
        `aclose`: no claim may put a run back meanwhile)."""
        runs = [run for line in self.lines.values() for run in line.waiting]
        self.lines.clear()
        self._turns.clear()
        self._arrival.clear()
        return runs

    async def aclose(self) -> None:
        """Claim nothing more; wait for the claims in flight."""
        self.paused = True
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # claiming ----------------------------------------------------------------------
    def _has_room(self) -> bool:
        return self.capacity is None or self.busy < self.capacity

    def _pump(self) -> None:
        """Start the claims that may go now: while the worker has room, one for
        the next tenant in turn whose line may claim."""
        while not self.paused and self._has_room():
            tenant = self._next_turn()
            if tenant is None:
                return
            line = self.lines[tenant]
            line.credit = max(0, line.credit - 1)
            line.claiming += 1
            self.busy += 1
            task = asyncio.create_task(
                self._claim_one(tenant, line, line.waiting.popleft())
            )
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _next_turn(self) -> str | None:
        """The first tenant in turn whose line may claim now, moved to the back;
        lines left empty are dropped on the way."""
        for _ in range(len(self._turns)):
            tenant = self._turns.popleft()
            line = self.lines.get(tenant)
            if line is None:
                continue
            if not line.waiting and not line.claiming:
                del self.lines[tenant]
                continue
            self._turns.append(tenant)
            if self._may_claim(line):
                return tenant
        return None

    def _may_claim(self, line: TenantLine) -> bool:
        """A line claims while it is open — when limited, one claim at a time
        until one is refused (a burst of arrivals must not become a burst of
        claims queueing on the tenant's lock) — and besides, once per freed slot
        (claims in a row would leave slots idle meanwhile)."""
        if not line.waiting:
            return False
        if not self.limited:
            return line.open
        return line.credit > 0 or (line.open and not line.claiming)

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
        won = claim is not None and claim.run is not None and claim.refused is None
        if won:
            self._waits[run.id] = 0
        else:
            self.busy -= 1
        if claim is None or claim.refused == "tenant":
            self._requeue(tenant, line, run)
        else:
            self._arrival.pop(run.id, None)
            try:
                self._admit(run, claim)
            except Exception:  # one run's bookkeeping must not stall its tenant
                log.exception("admitting run %s failed", run.id)
                self.release(run.id)
        self._pump()

    def _requeue(self, tenant: str, line: TenantLine, run: RunRecord) -> None:
        """Put a refused run back in its place in its line (before those that
        arrived after it; claims refused together come back in any order), and
        close the line."""
        arrived = self._arrival.get(run.id, 0)
        later = (
            place
            for place, other in enumerate(line.waiting)
            if self._arrival.get(other.id, 0) > arrived
        )
        line.waiting.insert(next(later, len(line.waiting)), run)
        self.refusals += 1
        line.open = False
        line.refused_at = time.monotonic()
        if self._on_full is not None and self.limited:
            self._on_full(tenant)
