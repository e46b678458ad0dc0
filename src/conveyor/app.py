"""`Conveyor`: the application object — registry of workflows and agents, and the
Python API to start, watch, signal, query, cancel and replay runs."""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from types import TracebackType
from typing import Any

from .agents import Agent, AgentRuntime, make_agent
from .bus import open_bus
from .bus.base import Bus, Control, Subscription, Topic
from .clock import Clock, SystemClock
from .direct import call_directly
from .errors import (
    AgentNotFoundError,
    ConfigurationError,
    IllegalTransitionError,
    NotFoundError,
    RunCancelledError,
    WorkflowNotFoundError,
)
from .events import TERMINAL_TYPES, Event, EventType
from .execution import SoonWrites
from .runners.base import Runner
from .runners.local import LocalRunner
from .runs import RunRecord, RunStatus, check_transition, new_run_id
from .serde import check_size, to_jsonable
from .settings import Settings
from .store import open_store
from .store.base import DeadLetter, RunQuery, RunUpdate, Store, WriteBatch
from .watching import follow_events, wait_for_result
from .workflows import Workflow


class RunHandle:
    """A submitted run: its id, whether this call created it, and its outcome."""

    def __init__(self, app: Conveyor, run: RunRecord, created: bool) -> None:
        self.app = app
        self.run_id = run.id
        self.tenant = run.tenant
        self.created = created

    async def result(self, timeout_s: float | None = None) -> Any:
        """Wait for the run to end; its output, or `RunFailedError` /
        `RunCancelledError`."""
        return await self.app.result(
            self.run_id, tenant=self.tenant, timeout_s=timeout_s
        )

    def events(
        self, after: int = 0, follow: bool = True
    ) -> AsyncGenerator[Event, None]:
        """Stored events after `after`, then live ones until the run ends."""
        return self.app.events(
            self.run_id, after=after, tenant=self.tenant, follow=follow
        )

    async def cancel(self) -> RunRecord:
        """Ask the run to stop."""
        return await self.app.cancel(self.run_id, tenant=self.tenant)


class Conveyor:
    """The engine. Use as `async with Conveyor(...) as app:`.

    Args:
        store_url / bus_url: override `settings` (embedded default: SQLite file +
            in-process bus).
        clock: the clock (tests pass the virtual clock from `conveyor.testing`).
        workflows / agents: definitions to register.
        run_workers: execute runs in this process (False for API-only processes).
        queues: in distributed mode, execute only the runs of workflows on these
            queues (None: every queue).
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        store_url: str | None = None,
        bus_url: str | None = None,
        clock: Clock | None = None,
        workflows: Iterable[Workflow[Any]] = (),
        agents: Iterable[Agent[Any]] = (),
        run_workers: bool = True,
        store: Store | None = None,
        bus: Bus | None = None,
        queues: Iterable[str] | None = None,
    ) -> None:
        self.settings = settings or Settings()
        if store_url is not None:
            self.settings = self.settings.model_copy(update={"store_url": store_url})
        if bus_url is not None:
            self.settings = self.settings.model_copy(update={"bus_url": bus_url})
        self.clock: Clock = clock or SystemClock()
        self.worker_id = self.settings.worker_id or f"worker-{uuid.uuid4().hex[:12]}"
        self.store = store or open_store(self.settings.store_url, self.clock)
        self.bus = bus or open_bus(self.settings.bus_url)
        self.runtime = AgentRuntime(self.clock, random.Random())
        self.soon_writes = SoonWrites()
        self.workflows: dict[str, Workflow[Any]] = {}
        self.agents: dict[str, Agent[Any]] = {}
        self._adhoc: dict[Callable[..., Any], Agent[Any]] = {}
        self.run_workers = run_workers
        self.queues = None if queues is None else frozenset(queues)
        self.runner: Runner | None = None
        self._opened = False
        self.register(*workflows, *agents)

    # registry ---------------------------------------------------------------------
    def register(self, *definitions: Workflow[Any] | Agent[Any]) -> None:
        """Register workflow and agent definitions (names must be unique)."""
        for definition in definitions:
            table: dict[str, Any] = (
                self.workflows if isinstance(definition, Workflow) else self.agents
            )
            existing = table.get(definition.name)
            if existing is not None and existing is not definition:
                raise ConfigurationError(f"{definition.name!r} is already registered")
            table[definition.name] = definition
            if isinstance(definition, Agent):
                self.runtime.configure(definition)

    def get_workflow(self, name: str) -> Workflow[Any]:
        """The workflow registered as `name`."""
        try:
            return self.workflows[name]
        except KeyError:
            raise WorkflowNotFoundError(name) from None

    def get_agent(self, name: str) -> Agent[Any]:
        """The agent registered as `name`."""
        try:
            return self.agents[name]
        except KeyError:
            raise AgentNotFoundError(name) from None

    def adhoc_agent(self, fn: Callable[..., Awaitable[Any]]) -> Agent[Any]:
        """A plain async function used as a step, wrapped once with default policy."""
        found = self._adhoc.get(fn)
        if found is None:
            found = self._adhoc[fn] = make_agent(fn)
        return found

    # lifecycle --------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """Whether `open()` has run and `aclose()` has not (servers open only what
        they must, and close only what they opened)."""
        return self._opened

    async def open(self) -> None:
        """Open the store and bus; start executing (and recover orphaned runs)."""
        if self._opened:
            return
        self.bus.attach(self.store, self.clock)
        self.bus.route_queues(
            {name: flow.queue for name, flow in self.workflows.items()}, self.queues
        )
        await self.store.open()
        await self.bus.open()
        self.bus.on_control(self._on_control)
        if self.run_workers:
            self.runner = self._make_runner()
            await self.runner.open()
        self._opened = True
        if self.runner is not None:
            await self.recover()

    async def aclose(self) -> None:
        """Stop executing (unfinished runs resume on the next start) and close."""
        if not self._opened:
            return
        self._opened = False
        if self.runner is not None:
            await self.runner.aclose()
            self.runner = None
        await self.bus.aclose()
        await self.store.aclose()

    async def __aenter__(self) -> Conveyor:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _make_runner(self) -> Runner:
        """Workers that share runs over NATS, or the in-process runner."""
        if not self.runner_cls.local_submissions:
            return self.runner_cls(self)  # type: ignore[call-arg]
        return LocalRunner(self, self.store.lock_path())

    @property
    def runner_cls(self) -> type[Runner]:
        """The runner the configured bus calls for."""
        if self.bus.distributes_runs:
            from .runners.worker import WorkerRunner

            return WorkerRunner
        return LocalRunner

    async def recover(self) -> int:
        """Resume every unfinished run (after a crash); returns how many."""
        if self.runner is None:
            return 0
        if not self.runner.local_submissions:
            return await self.runner.recover()  # type: ignore[attr-defined,no-any-return]
        runs = await self.store.unfinished_runs()
        for run in runs:
            self.runner.submit(run)
        return len(runs)

    # submission -------------------------------------------------------------------
    async def start(
        self,
        workflow: Workflow[Any] | str,
        input: Any = None,
        *,
        tenant: str = "default",
        key: str | None = None,
        idempotency_key: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> RunHandle:
        """Store a new run and queue it; returns at once. With an `idempotency_key`
        already used by this tenant, returns the existing run instead."""
        handle, _ = await self._submit(
            workflow, input, tenant=tenant, key=key, idempotency_key=idempotency_key,
            session_id=session_id, parent_run_id=parent_run_id, listen=False,
        )  # fmt: skip
        return handle

    async def _submit(
        self,
        workflow: Workflow[Any] | str,
        input: Any,
        *,
        listen: bool,
        tenant: str = "default",
        key: str | None = None,
        idempotency_key: str | None = None,
        session_id: str | None = None,
        parent_run_id: str | None = None,
    ) -> tuple[RunHandle, Subscription | None]:
        """`start`; with `listen`, also a subscription to the new run's end made
        before the run was dispatched (so it cannot miss it), when another process
        executes it."""
        spec = self.get_workflow(
            workflow if isinstance(workflow, str) else workflow.name
        )
        data = to_jsonable(spec.parse_input(input))
        check_size("input", data, self.settings.max_step_bytes)
        now = self.clock.now()
        owned = self.runner is not None and self.runner.local_submissions
        run = RunRecord(
            id=new_run_id(),
            workflow=spec.name,
            tenant=tenant,
            status=RunStatus.PENDING,
            input=data,
            created_at=now,
            updated_at=now,
            key=key,
            idempotency_key=idempotency_key,
            session_id=session_id,
            parent_run_id=parent_run_id,
            owner=self.worker_id if owned else None,
            lease_epoch=1 if owned else 0,
            lease_expires_at=now + self.settings.lease_ttl_s if owned else 0.0,
        )
        first = Event(
            run_id=run.id,
            seq=1,
            type=EventType.RUN_SUBMITTED._value_,
            timestamp=now,
            tenant=tenant,
            workflow=spec.name,
            session_id=session_id,
            data={"key": key, "input": data},
        )
        listening = None
        if listen and not owned:
            listening = self.bus.subscribe(Topic(run_id=run.id, types=TERMINAL_TYPES))
        try:
            stored, created = await self.store.create_run(run, first)
            if created:
                self.bus.publish([first])
                await self._dispatch(stored)
        except BaseException:
            if listening is not None:
                await listening.aclose()
            raise
        if listening is not None and not created:  # an earlier run: it may be over
            await listening.aclose()
            listening = None
        return RunHandle(self, stored, created), listening

    async def _dispatch(self, run: RunRecord) -> None:
        if self.runner is not None and self.runner.local_submissions:
            self.runner.submit(run)
            return
        route = {"tenant": run.tenant, "key": run.key, "workflow": run.workflow}
        await self.bus.send_control(
            Control("submitted", run.id, {**route, "seq": run.last_seq})
        )

    async def run(
        self, workflow: Workflow[Any] | str, input: Any = None, **kw: Any
    ) -> Any:
        """Start a run and wait for its output."""
        handle, listening = await self._submit(workflow, input, listen=True, **kw)
        return await wait_for_result(
            self, handle.run_id, handle.tenant, None, listening=listening
        )

    # reading ----------------------------------------------------------------------
    async def get_run(self, run_id: str, tenant: str | None = None) -> RunRecord:
        """The run (`RunNotFoundError` if missing or another tenant's)."""
        return await self.store.get_run(run_id, tenant)

    async def list_runs(self, query: RunQuery) -> list[RunRecord]:
        """Runs matching `query`, newest first."""
        return await self.store.list_runs(query)

    async def result(
        self, run_id: str, tenant: str | None = None, timeout_s: float | None = None
    ) -> Any:
        """Wait for the run to end and return its output."""
        return await wait_for_result(self, run_id, tenant, timeout_s)

    def events(
        self,
        run_id: str,
        *,
        after: int = 0,
        tenant: str | None = None,
        follow: bool = True,
    ) -> AsyncGenerator[Event, None]:
        """Stored events with seq > `after`, then (if `follow`) live ones until the
        run ends. No event is missed or repeated at the seam."""
        return follow_events(self, run_id, after=after, tenant=tenant, follow=follow)

    # control ----------------------------------------------------------------------
    async def cancel(self, run_id: str, tenant: str | None = None) -> RunRecord:
        """Cancel a run: a pending run at once; a running one through its cancel
        token, then preemption after the grace period. An ended run raises
        `IllegalTransitionError`."""
        run = await self.get_run(run_id, tenant)
        if run.status.is_terminal:
            check_transition(run.id, run.status, RunStatus.CANCELLED)
        await self.store.request_cancel(run_id)
        if self.runner is not None and await self.runner.cancel(run_id):
            return await self.get_run(run_id)
        if run.status is RunStatus.PENDING:
            await self._cancel_unowned(run)
        else:
            await self.bus.send_control(Control("cancel", run_id))
        return await self.get_run(run_id)

    async def _cancel_unowned(self, run: RunRecord) -> None:
        """Cancel a queued run by taking its lease and recording the end."""
        owned = await self.store.acquire_lease(
            run.id, self.worker_id, self.clock.now(), self.settings.lease_ttl_s
        )
        if owned is None or owned.status is not RunStatus.PENDING:
            return
        event = Event(
            run_id=run.id,
            seq=owned.last_seq + 1,
            type=EventType.RUN_CANCELLED.value,
            timestamp=self.clock.now(),
            tenant=run.tenant,
            workflow=run.workflow,
            session_id=run.session_id,
        )
        update = RunUpdate(
            status=RunStatus.CANCELLED,
            error={"type": RunCancelledError.__name__, "message": "cancelled"},
            release_lease=True,
        )
        await self.store.write(
            WriteBatch(run.id, owned.lease_epoch, events=[event], update=update)
        )
        self.bus.publish([event])

    async def signal(
        self, run_id: str, name: str, payload: Any = None, tenant: str | None = None
    ) -> int:
        """Send a signal; it waits in the store until the run consumes it."""
        run = await self.get_run(run_id, tenant)
        if run.status.is_terminal:
            check_transition(run.id, run.status, RunStatus.RUNNING)
        data = to_jsonable(payload)
        check_size("payload", data, self.settings.max_step_bytes)
        signal_id = await self.store.add_signal(run_id, name, data, self.clock.now())
        if self.runner is not None:
            self.runner.notify_signal(run_id)
        else:
            await self.bus.send_control(Control("signal", run_id, {"name": name}))
        return signal_id

    async def query(self, run_id: str, name: str, tenant: str | None = None) -> Any:
        """The value the run last published under `name` with `run.set_query`."""
        run = await self.get_run(run_id, tenant)
        if name not in run.query_state:
            raise NotFoundError(f"run {run_id} has no query {name!r}")
        return run.query_state[name]

    async def _on_control(self, message: Control) -> None:
        if self.runner is None:
            return
        if message.kind == "submitted":
            self.runner.submit(await self.store.get_run(message.run_id))
        elif message.kind == "cancel":
            await self.runner.cancel(message.run_id)
        elif message.kind == "signal":
            self.runner.notify_signal(message.run_id)

    # dead letters -----------------------------------------------------------------
    async def dead_letters(
        self, tenant: str | None = None, limit: int = 50
    ) -> list[DeadLetter]:
        """Dead letters not yet replayed, newest first."""
        return await self.store.list_dead_letters(tenant, limit)

    async def dead_letter(
        self, dead_letter_id: str, tenant: str | None = None
    ) -> DeadLetter:
        """One dead letter (`DeadLetterNotFoundError` if missing or another
        tenant's)."""
        return await self.store.get_dead_letter(dead_letter_id, tenant)

    async def replay(self, dead_letter_id: str, tenant: str | None = None) -> RunHandle:
        """Replay a dead letter: its run resumes from the failed step (completed steps
        keep their results)."""
        letter = await self.store.get_dead_letter(dead_letter_id, tenant)
        run = await self.store.get_run(letter.run_id)
        if letter.replayed_at is not None:  # a newer letter stands for the run now
            raise IllegalTransitionError(run.id, "replayed dead letter", "pending")
        check_transition(run.id, run.status, RunStatus.PENDING)
        owned = await self.store.acquire_lease(
            run.id, self.worker_id, self.clock.now(), self.settings.lease_ttl_s
        )
        if owned is None:
            raise ConfigurationError(f"run {run.id} is busy; try again")
        event = Event(
            run_id=run.id,
            seq=owned.last_seq + 1,
            type=EventType.RUN_REPLAYED.value,
            timestamp=self.clock.now(),
            tenant=run.tenant,
            workflow=run.workflow,
            session_id=run.session_id,
            data={"dead_letter_id": letter.id},
        )
        await self.store.write(
            WriteBatch(
                run.id,
                owned.lease_epoch,
                events=[event],
                update=RunUpdate(
                    status=RunStatus.PENDING, release_lease=True, reset_recoveries=True
                ),
                drop_failed_steps=True,
                replayed_dead_letter=letter.id,
            )
        )
        self.bus.publish([event])
        reopened = await self.store.get_run(run.id)
        await self._dispatch(reopened)
        return RunHandle(self, reopened, created=False)

    # direct agent calls -----------------------------------------------------------
    async def call(
        self,
        target: Agent[Any] | str,
        data: Any = None,
        *,
        tenant: str = "default",
        session_id: str | None = None,
        timeout_s: float | None = None,
    ) -> Any:
        """Call an agent outside any workflow: same policies and events, not durable."""
        spec = target if isinstance(target, Agent) else self.get_agent(target)
        return await call_directly(
            self, spec, data, tenant=tenant, session_id=session_id, timeout_s=timeout_s
        )
