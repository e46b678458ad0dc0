"""`LocalRunner`: executes runs as asyncio tasks in this process (embedded mode).

It holds an exclusive lock on the store's lock file for as long as it runs, so a
restarted process knows every unfinished run is an orphan and may resume it at once;
the kernel drops the lock even when the previous process was SIGKILLed.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections import deque
from pathlib import Path
from typing import IO, TYPE_CHECKING

from ..context import RunContext
from ..errors import InstanceLockedError, LeaseLostError
from ..events import TERMINAL_TYPES, Event, EventType
from ..execution import RunExecution
from ..policies import Limits
from ..runs import RunRecord, RunStatus
from ..serde import check_size, to_jsonable
from .base import Runner

if TYPE_CHECKING:
    from ..app import Conveyor

KeyId = tuple[str, str]


class LocalRunner(Runner):
    """Runs in-process; per-key FIFO queues run same-key runs in order, one by one."""

    def __init__(self, app: Conveyor, lock_path: Path | None) -> None:
        self.app = app
        self.lock_path = lock_path
        self.executions: dict[str, RunExecution] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.started: dict[str, RunRecord] = {}
        self.tenant_limits = Limits(app.settings.tenant_concurrency)
        self._queues: dict[KeyId, deque[RunRecord]] = {}
        self._busy_keys: set[KeyId] = set()
        self._lock_file: IO[bytes] | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self._closing = False
        self._background: set[asyncio.Task[None]] = set()
        self._work_added = asyncio.Event()
        self._end_waiters: dict[str, list[asyncio.Future[Event | None]]] = {}
        self.heartbeats = asyncio.Event()
        self.heartbeats.set()
        app.bus.add_listener(self._on_event)

    @property
    def owns_instance(self) -> bool:
        return self._lock_file is not None

    async def open(self) -> None:
        if self.lock_path is not None:
            self._lock_file = _take_lock(self.lock_path)
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="heartbeat")

    async def aclose(self) -> None:
        self._closing = True
        for preempt in list(self._background):
            preempt.cancel()
        tasks = list(self.tasks.values())
        executions = list(self.executions.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for execution in executions:
            await execution.drain()
            if not execution.status.is_terminal:
                await execution.release()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
            await asyncio.gather(self._heartbeat, return_exceptions=True)
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    # dispatch ----------------------------------------------------------------------
    def submit(self, run: RunRecord) -> None:
        if run.key is None:
            self._start(run)
            return
        key = (run.tenant, run.key)
        if key in self._busy_keys:
            self._queues.setdefault(key, deque()).append(run)
            return
        self._busy_keys.add(key)
        self._start(run)

    def _start(self, run: RunRecord) -> None:
        if self._closing or run.id in self.tasks:
            return
        task = asyncio.create_task(self._execute(run), name=f"run-{run.id}")
        self.tasks[run.id] = task
        self.started[run.id] = run
        task.add_done_callback(lambda _: self._finished(run))

    def _finished(self, run: RunRecord) -> None:
        self.tasks.pop(run.id, None)
        self.started.pop(run.id, None)
        self.executions.pop(run.id, None)
        self._wake_end_waiters(run.id, None)  # stopped here without ending
        if run.key is None:
            return
        key = (run.tenant, run.key)
        queue = self._queues.get(key)
        if queue:
            self._start(queue.popleft())
            if not queue:
                del self._queues[key]
        else:
            self._busy_keys.discard(key)

    def surely_unfinished(self, run_id: str, tenant: str | None) -> bool:
        """True when the run (of `tenant`, if given) executes here and has not
        reached its end: its terminal event is still to be published (a shortcut
        for waiters)."""
        run = self.started.get(run_id)
        if run is None or (tenant is not None and run.tenant != tenant):
            return False
        execution = self.executions.get(run_id)
        return execution is None or not execution.status.is_terminal

    def end_of(self, run_id: str) -> asyncio.Future[Event | None]:
        """A future for the terminal event of a run executing here (check
        `surely_unfinished` first). It is told by the run's own publication, so a
        waiter needs no subscription; it resolves to None if the run stops here
        without ending (lease lost, shutdown): the waiter then watches the store."""
        future: asyncio.Future[Event | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._end_waiters.setdefault(run_id, []).append(future)
        return future

    def _on_event(self, event: Event) -> None:
        if self._end_waiters and event.type in TERMINAL_TYPES:
            self._wake_end_waiters(event.run_id, event)

    def _wake_end_waiters(self, run_id: str, event: Event | None) -> None:
        for future in self._end_waiters.pop(run_id, ()):
            if not future.done():  # a waiter that timed out cancelled its own
                future.set_result(event)

    @property
    def queued(self) -> int:
        """Runs waiting behind another run with the same key."""
        return sum(len(queue) for queue in self._queues.values())

    # execution ---------------------------------------------------------------------
    async def _execute(self, run: RunRecord) -> None:
        app = self.app
        crashed = run.owner is not None  # a clean shutdown leaves runs unowned
        if run.owner != app.worker_id or run.status is not RunStatus.PENDING:
            acquired = await app.store.acquire_lease(
                run.id,
                app.worker_id,
                app.clock.now(),
                app.settings.lease_ttl_s,
                force=self.owns_instance,
            )
            if acquired is None or acquired.status.is_terminal:
                return
            run = acquired
            history = await app.store.load_steps(run.id)
        else:
            history = {}
        spec = app.get_workflow(run.workflow)
        execution = RunExecution(app, run, spec, history)
        execution.crashed = crashed
        self.executions[run.id] = execution
        if len(self.executions) == 1:
            # Wake the idle heartbeat. A busy one needs no wake-up: this lease
            # expires after every lease it already watches.
            self._work_added.set()
        async with self.tenant_limits.slot(run.tenant):
            await self._drive(execution)

    async def _drive(self, exe: RunExecution) -> None:
        try:
            if exe.cancel_requested.is_set():
                await exe.cancel()
                return
            if exe.run.recoveries >= self.app.settings.max_recoveries and (
                exe.status.is_active
            ):
                raise RuntimeError(
                    f"run crashed {exe.run.recoveries} times; giving up "
                    f"(max_recoveries={self.app.settings.max_recoveries})"
                )
            exe.begin(crashed=exe.crashed)
            data = exe.spec.parse_input(exe.run.input)
            output = to_jsonable(await exe.spec.fn(RunContext(exe), data))
            check_size("output", output, self.app.settings.max_step_bytes)
            await exe.complete(output)
        except LeaseLostError:
            return  # another worker owns the run now; it carries on
        except asyncio.CancelledError:
            if self._closing or not exe.cancel_requested.is_set():
                raise  # shutting down: the run stays owned and is recovered later
            await asyncio.shield(self._record_cancel(exe))
        except Exception as error:
            if exe.cancel_requested.is_set() and exe.status is not RunStatus.PENDING:
                await self._record_cancel(exe)
                return
            with contextlib.suppress(LeaseLostError):
                await exe.fail(error)

    async def _record_cancel(self, exe: RunExecution) -> None:
        with contextlib.suppress(LeaseLostError):
            await exe.cancel()

    # control -----------------------------------------------------------------------
    async def cancel(self, run_id: str) -> bool:
        exe = self.executions.get(run_id)
        task = self.tasks.get(run_id)
        if exe is None or task is None:
            return False
        if not exe.cancel_requested.is_set():
            exe.cancel_requested.set()
            exe.emit(EventType.RUN_CANCEL_REQUESTED)
            exe.write_soon()
        if exe.active_steps == 0:  # waiting on a timer or a signal: stop right away
            task.cancel()
            return True
        preempt = asyncio.create_task(self._preempt(task))
        self._background.add(preempt)
        preempt.add_done_callback(self._background.discard)
        return True

    async def _preempt(self, task: asyncio.Task[None]) -> None:
        """Hard-cancel the run if it ignores the cancel token for the grace period."""
        sleeper = asyncio.ensure_future(
            self.app.clock.sleep(self.app.settings.cancel_grace_s)
        )
        try:
            finished, _ = await asyncio.wait(
                {task, sleeper}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            sleeper.cancel()
        if task not in finished:
            task.cancel()

    def notify_signal(self, run_id: str) -> None:
        exe = self.executions.get(run_id)
        if exe is not None:
            exe.signal_arrived.set()

    async def _renew_leases(self) -> None:
        """Heartbeat: extend the leases about to expire (a run in a long durable
        sleep holds its lease until it wakes, so it needs none); stop runs whose
        lease another worker took. Idle while nothing executes here."""
        app = self.app
        beat, ttl = app.settings.heartbeat_s, app.settings.lease_ttl_s
        while True:
            if not self.executions:
                self._work_added.clear()
                await self._work_added.wait()
                continue
            now = app.clock.now()
            due = [
                exe for exe in self.executions.values()
                if exe.lease_expires_at <= now + 2 * beat
            ]  # fmt: skip
            if due:
                await self.heartbeats.wait()  # cleared only by the test kit
                await self._renew(due, app.clock.now() + ttl)
            expiries = [exe.lease_expires_at for exe in self.executions.values()]
            soonest = min(expiries, default=now + ttl)
            # New work needs no earlier wake-up: its lease expires after these.
            await app.clock.sleep(max(beat, soonest - now - 2 * beat))

    async def _renew(self, due: list[RunExecution], expires_at: float) -> None:
        held = [(exe.run.id, exe.epoch) for exe in due]
        try:
            lost = set(await self.app.store.renew_leases(
                self.app.worker_id, held, expires_at
            ))  # fmt: skip
        except Exception:  # store unavailable: retry on the next beat
            return
        for exe in due:
            if exe.run.id in lost:
                task = self.tasks.get(exe.run.id)
                if task is not None:
                    task.cancel()
            else:
                exe.lease_expires_at = expires_at


def _take_lock(path: Path) -> IO[bytes]:
    """Lock `path` exclusively or say which process holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+b")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().decode(errors="replace").strip() or "another process"
        handle.close()
        raise InstanceLockedError(
            f"{holder} is already running workflows on this store ({path}); "
            "stop it, or talk to it over HTTP (conveyor run --url ...)"
        ) from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}".encode())
    handle.flush()
    return handle
