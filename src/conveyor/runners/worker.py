"""`WorkerRunner`: executes runs dispatched over NATS JetStream, in any number of
`conveyor worker` processes sharing one PostgreSQL store.

Everything that must hold across workers is decided by the database, in the same
statement that takes a run (`PostgresStore.claim_run`): the lease and its fencing
epoch, per-key order (no run starts while an earlier run of its key is
unfinished) and the per-tenant concurrency limit. The bus only says where to look:
a run's partition is pinned to one worker, which keeps that key's runs in a local
FIFO; a run refused because of its key is dispatched again when its predecessor
ends. A worker pulls eagerly and lets what it pulled wait in its `Admission`,
which starts runs tenant by tenant in turn while the worker has room
(`worker_concurrency`) — so a flood in the stream does not hold other tenants'
runs behind it — and, with a tenant limit, only when a slot of their tenant may
have freed (here, or on another worker, which hints it over the bus). Leases of
dead workers are reclaimed after they expire; the outbox relay resends what no
worker took or holds (a worker marks the dispatches of the runs waiting on it as
fresh, and hands them over when it stops).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..bus.base import Control
from ..bus.nats import NatsBus
from ..bus.nats_dispatch import Delivery, Outcome
from ..errors import ConfigurationError, WorkflowNotFoundError
from ..events import Event, EventType
from ..execution import RunExecution
from ..runs import RunRecord, RunStatus
from ..store.base import DeadLetter, RunUpdate, WriteBatch
from ..store.postgres import Claim, PostgresStore
from .admission import Admission
from .local import LocalRunner
from .tenant_hints import TenantHints

if TYPE_CHECKING:
    from ..app import Conveyor

log = logging.getLogger(__name__)

TEND_S = 0.25


def _route(run: RunRecord) -> dict[str, Any]:
    return {"tenant": run.tenant, "key": run.key, "workflow": run.workflow}


class WorkerRunner(LocalRunner):
    """Runs dispatched runs here; shares keys, tenants and recovery with peers."""

    local_submissions = False

    def __init__(self, app: Conveyor) -> None:
        super().__init__(app, None)
        if not isinstance(app.bus, NatsBus) or not isinstance(app.store, PostgresStore):
            raise ConfigurationError(
                "distributed workers need a nats:// bus and a postgresql:// store"
            )
        self.bus: NatsBus = app.bus
        self.store: PostgresStore = app.store
        self.draining = False
        self._claimed: dict[str, RunRecord] = {}
        self._parked: set[str] = set()
        self._crashed: set[str] = set()
        self._unheld: set[str] = set()
        self._held_all_at = 0.0
        self._watch_task: asyncio.Task[None] | None = None
        self._tend_task: asyncio.Task[None] | None = None
        self.reclaimed = 0
        self.hints = TenantHints(self._send_soon)
        limited = app.settings.tenant_concurrency is not None
        self.admission = Admission(
            self._claim_limited if limited else self._claim_now,
            self._admitted,
            capacity=app.settings.worker_concurrency,
            limited=limited,
            on_full=self.hints.full,
        )

    async def open(self) -> None:
        await super().open()
        self.bus.on_control(self._on_control)
        await self.bus.consume(self._on_delivery)
        self._watch_task = asyncio.create_task(self._watch(), name="worker-watch")
        self._tend_task = asyncio.create_task(self._tend(), name="worker-tend")

    async def drain(self, timeout_s: float) -> None:
        """Take no new runs; wait up to `timeout_s` for those in flight to end."""
        self.draining = True
        await self.bus.stop_consuming()
        await self.admission.aclose()
        if self.tasks:
            await asyncio.wait(list(self.tasks.values()), timeout=timeout_s)

    async def aclose(self) -> None:
        self.draining = True
        await self.bus.stop_consuming()
        await self.admission.aclose()
        for task in (self._watch_task, self._tend_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        queued = [run for queue in self._queues.values() for run in queue]
        held = [(exe.run.id, exe.epoch) for exe in self.executions.values()]
        routes = {exe.run.id: _route(exe.run) for exe in self.executions.values()}
        await super().aclose()
        await self._release(held, routes)
        await self._hand_over(self._waiting_runs(queued))

    def _waiting_runs(self, queued: list[RunRecord]) -> list[RunRecord]:
        """The runs that waited here for admission or behind their key
        (`queued`: those behind a key before the runs ahead were stopped, which
        moved some into admission)."""
        runs = {run.id: run for run in queued}
        runs.update((run.id, run) for run in self.admission.take_all())
        return list(runs.values())

    async def _hand_over(self, runs: list[RunRecord]) -> None:
        """Dispatch the runs that waited here again, for the other workers; their
        outbox messages are no longer held, so the relay resends any lost."""
        if not runs:
            return
        with contextlib.suppress(Exception):
            await self.store.hold_dispatches([run.id for run in runs], None)
            tag = uuid.uuid4().hex[:8]
            for run in runs:
                await self.bus.dispatch(
                    run.id, _route(run), msg_id=f"handover.{run.id}.{tag}",
                    confirm=False,
                )  # fmt: skip

    async def _release(
        self, held: list[tuple[str, int]], routes: dict[str, dict[str, Any]]
    ) -> None:
        """Hand runs still in flight to other workers now, not after lease expiry."""
        if not held:
            return
        with contextlib.suppress(Exception):
            # Leases were released by the runs themselves; any left over still
            # go, so the partition's worker can take them at once.
            await self.store.release_leases(self.app.worker_id, held)
            for run_id, epoch in held:
                await self.bus.dispatch(
                    run_id, routes[run_id], msg_id=f"release.{run_id}.{epoch}"
                )

    async def recover(self) -> int:
        """Dispatch again the runs of dead workers (expired leases) and those this
        worker id owned before a restart."""
        return await self._reclaim(mine=True)

    # deliveries --------------------------------------------------------------------
    async def _on_delivery(self, delivery: Delivery) -> str | tuple[str, float]:
        run_id, data = delivery.run_id, delivery.data
        if self.draining or self._closing:
            return Outcome.nak(0.5)
        if run_id in self.tasks or self._is_waiting(run_id):
            return Outcome.ACK  # a duplicate of a run already here
        workflow = str(data.get("workflow"))
        if workflow not in self.app.workflows:
            return await self._unknown_workflow(delivery, workflow)
        stub = RunRecord(
            id=run_id, workflow=workflow, tenant=str(data.get("tenant")),
            status=RunStatus.PENDING, input=None, created_at=0.0, updated_at=0.0,
            key=data.get("key"),
        )  # fmt: skip
        key = (stub.tenant, stub.key) if stub.key is not None else None
        if key is not None:
            if key in self._busy_keys:
                self._queues.setdefault(key, deque()).append(stub)
                self._park(run_id)
                return Outcome.ACK
            # Taken before the claim is made, so the partition's next delivery
            # of this key waits behind this one.
            self._busy_keys.add(key)
        self._start(stub)  # admission claims it in its tenant's turn
        return Outcome.ACK

    def _free_key(self, key: tuple[str, str] | None) -> None:
        """A key taken for a run that did not start here: the next run waiting
        on it goes (its own claim decides whether it may), else the key is free."""
        if key is None:
            return
        queue = self._queues.get(key)
        if queue:
            self._start(queue.popleft())
            if not queue:
                del self._queues[key]
        else:
            self._busy_keys.discard(key)

    def _is_waiting(self, run_id: str) -> bool:
        """Whether the run waits here behind its key or for admission."""
        return run_id in self._parked

    def _park(self, run_id: str) -> None:
        """The run waits here: the relay must leave its dispatch alone."""
        self._parked.add(run_id)
        self._unheld.add(run_id)

    def _start(self, run: RunRecord) -> None:
        if run.id not in self._claimed:
            self._park(run.id)
            self.admission.offer(run)  # claimed in its tenant's turn
            return
        self._parked.discard(run.id)
        super()._start(run)

    async def _claim_now(self, stub: RunRecord) -> Claim:
        """Take the run in the store (no tenant limit: nothing else refuses it
        for long)."""
        app = self.app
        return await self.store.claim_run(
            stub.id, app.worker_id, app.clock.now(), app.settings.lease_ttl_s
        )

    def _taken(self, stub: RunRecord, claim: Claim) -> RunRecord | None:
        if claim.run is None or claim.refused is not None:
            return None
        self._claimed[stub.id] = claim.run
        if claim.crashed:
            self._crashed.add(stub.id)
        return claim.run

    # admission -----------------------------------------------------------------------
    async def _claim_limited(self, stub: RunRecord) -> Claim:
        app = self.app
        return await self.store.claim_run(
            stub.id,
            app.worker_id,
            app.clock.now(),
            app.settings.lease_ttl_s,
            tenant=stub.tenant,
            tenant_limit=app.settings.tenant_concurrency,
        )

    def _admitted(self, stub: RunRecord, claim: Claim) -> None:
        """Admission's claim of a waiting run was decided: start the run, or let
        its key go if the store refused it (ended, owned elsewhere, or behind
        an earlier run of its key)."""
        self._parked.discard(stub.id)
        if self._taken(stub, claim) is None:
            self._free_key((stub.tenant, stub.key) if stub.key is not None else None)
            return
        super()._start(stub)

    @contextlib.contextmanager
    def waiting(self, run_id: str) -> Iterator[None]:
        self.admission.wait_began(run_id)
        try:
            yield
        finally:
            self.admission.wait_ended(run_id)

    def _slot_freed(self, tenant: str) -> None:
        """A run of a limited `tenant` ended here: the next one waiting here takes
        its slot, or, if none does, the workers waiting for one hear of it."""
        if self.admission.limited and not self.admission.wake(tenant):
            self.hints.freed(tenant)

    def _send_soon(self, message: Control) -> None:
        self._background_task(self._send_control(message))

    async def _send_control(self, message: Control) -> None:
        with contextlib.suppress(Exception):  # a hint: the probe makes up for it
            await self.bus.send_control(message)

    async def _on_control(self, message: Control) -> None:
        tenant = self.hints.heard(message)
        if tenant is not None and self.admission.limited:
            self.admission.wake(tenant)

    async def _unknown_workflow(
        self, delivery: Delivery, workflow: str
    ) -> str | tuple[str, float]:
        if not delivery.last_try:
            return Outcome.nak(min(0.5 * 2**delivery.delivered, 10.0))
        reason = f"workflow {workflow!r} is not registered on the workers that took it"
        await self.bus.dead_letter(delivery.run_id, delivery.data, reason)
        with contextlib.suppress(Exception):
            await self._record_dead(delivery.run_id, WorkflowNotFoundError(workflow))
        return Outcome.TERM

    async def _record_dead(self, run_id: str, error: Exception) -> None:
        """Fail a run no worker can execute and park it in the store's dead letters."""
        app = self.app
        run = await app.store.acquire_lease(
            run_id, app.worker_id, app.clock.now(), app.settings.lease_ttl_s
        )
        if run is None or run.status.is_terminal:
            return
        info = {"type": type(error).__name__, "message": str(error)}
        letter = DeadLetter(
            id=uuid.uuid4().hex, run_id=run.id, tenant=run.tenant,
            workflow=run.workflow, error=info, attempts=0, created_at=app.clock.now(),
        )  # fmt: skip
        steps: list[tuple[EventType, dict[str, Any]]] = [
            (EventType.RUN_FAILED, {"error": info}),
            (EventType.RUN_DEAD_LETTERED, {"dead_letter_id": letter.id, "error": info}),
        ]
        events = [
            Event(run.id, run.last_seq + n, kind.value, app.clock.now(), run.tenant,
                  run.workflow, run.session_id, data=data)
            for n, (kind, data) in enumerate(steps, start=1)
        ]  # fmt: skip
        update = RunUpdate(status=RunStatus.DEAD, error=info, release_lease=True)
        await app.store.write(
            WriteBatch(
                run.id, run.lease_epoch, events, update=update, dead_letter=letter
            )
        )
        app.bus.publish(events)

    # execution ---------------------------------------------------------------------
    async def _execute(self, run: RunRecord) -> None:
        app = self.app
        claimed = self._claimed.pop(run.id)  # admission claimed it
        history = {} if claimed.last_seq <= 1 else await app.store.load_steps(run.id)
        execution = RunExecution(
            app, claimed, app.get_workflow(claimed.workflow), history
        )
        execution.crashed = run.id in self._crashed
        self._crashed.discard(run.id)
        self.executions[run.id] = execution
        self._work_added.set()
        await self._drive(execution)

    def _finished(self, run: RunRecord) -> None:
        had_successor = bool(
            run.key is not None and self._queues.get((run.tenant, run.key))
        )
        self.admission.release(run.id)  # before a successor of its key is offered
        super()._finished(run)
        if self._closing:
            return
        self._slot_freed(run.tenant)
        if run.key is not None and not had_successor:
            self._background_task(self._dispatch_successor(run))

    def _background_task(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _dispatch_successor(self, run: RunRecord) -> None:
        """The next run of this key may wait on another worker: tell its partition."""
        assert run.key is not None
        with contextlib.suppress(Exception):
            found = await self.store.next_in_key(run.tenant, run.key)
            if found is None or found[0] in self.tasks:
                return
            next_id, workflow = found
            route = {"tenant": run.tenant, "key": run.key, "workflow": workflow}
            await self.bus.dispatch(next_id, route, msg_id=f"next.{next_id}.{run.id}")

    # watching ----------------------------------------------------------------------
    async def _watch(self) -> None:
        """Every heartbeat (real time): reclaim dead workers' runs, and pick up
        cancel requests and signals whose hint was lost."""
        interval = min(self.app.settings.heartbeat_s, 5.0)
        while True:
            await asyncio.sleep(interval)
            try:
                await self._reclaim()
                await self._check_flags()
            except Exception as exc:  # the store is away: next beat
                log.debug("worker watch: %s", exc)

    async def _tend(self) -> None:
        """Several times a second: let full tenant lines probe for a slot, and
        mark the dispatches of runs waiting here as fresh, so the relay does not
        send them again while this worker holds them (if it dies, the marks age
        and the relay resends them)."""
        while True:
            await asyncio.sleep(TEND_S)
            self.admission.probe()
            self.hints.prune()
            try:
                await self._hold_waiting()
            except Exception as exc:  # the store is away: next round
                log.debug("worker tend: %s", exc)

    async def _hold_waiting(self) -> None:
        now = time.monotonic()
        # Renewed twice per relay period: a mark never ages past it while this
        # worker lives, and a dead worker's runs are sent again within it.
        if now - self._held_all_at >= self.bus.relay_repeat_s / 2:
            self._held_all_at = now
            ids = list(self._parked)
        else:
            ids = [run_id for run_id in self._unheld if run_id in self._parked]
        self._unheld.clear()
        if ids:
            await self.store.hold_dispatches(ids, self.app.clock.now())

    async def _reclaim(self, *, mine: bool = False) -> int:
        expired = await self.store.expired_runs(
            self.app.clock.now(), owner=self.app.worker_id if mine else None
        )
        for run in expired:
            await self.bus.dispatch(
                run.id, _route(run), msg_id=f"reclaim.{run.id}.{run.lease_epoch}"
            )
        self.reclaimed += len(expired)
        return len(expired)

    async def _check_flags(self) -> None:
        for exe in list(self.executions.values()):
            exe.signal_arrived.set()  # a waiter re-reads its signals from the store
        flagged = await self.store.cancel_flags(list(self.executions))
        for run_id in flagged:
            found = self.executions.get(run_id)
            if found is not None and not found.cancel_requested.is_set():
                await self.cancel(run_id)
