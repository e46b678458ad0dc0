"""`RunContext`: what workflow code may do — call steps, sleep, wait for signals,
fan out, publish query state, report progress, and read time and randomness
deterministically. Everything here is recorded, so a replay returns the same values.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from .agents import Agent, StepContext, call_with_policies, make_agent
from .events import EventType
from .execution import RunExecution, error_info
from .runs import RunStatus
from .serde import check_size, digest, revive, to_jsonable
from .store.base import StepRecord

if TYPE_CHECKING:
    from .workflows import Workflow

T = TypeVar("T")
StepTarget = Agent[Any] | str | Callable[..., Awaitable[Any]]


class _Observer:
    """Turns a step's attempts and progress into events of the run."""

    __slots__ = ("exe", "name", "step_id")

    def __init__(self, exe: RunExecution, name: str, step_id: int) -> None:
        self.exe = exe
        self.name = name
        self.step_id = step_id

    def attempt_started(self, attempt: int) -> None:
        update = None
        if self.exe.status is RunStatus.RETRYING:
            update = self.exe.move(RunStatus.RUNNING)
        self.exe.emit(
            EventType.STEP_STARTED,
            step=self.name,
            attempt=attempt,
            data={"step_id": self.step_id},
        )
        self.exe.write_soon(update=update)

    def attempt_failed(
        self, attempt: int, error: BaseException, backoff_s: float | None
    ) -> None:
        if backoff_s is None:
            return  # the final failure is recorded with the step's checkpoint
        update = self.exe.move(RunStatus.RETRYING)
        self.exe.emit(
            EventType.STEP_RETRYING,
            step=self.name,
            attempt=attempt,
            data={
                "error": {"type": type(error).__name__, "message": str(error)},
                "backoff_s": round(backoff_s, 6),
            },
        )
        self.exe.write_soon(update=update)

    def progress(
        self, fraction: float | None, message: str, data: dict[str, Any]
    ) -> None:
        self.exe.emit(
            EventType.STEP_PROGRESS,
            step=self.name,
            data={"fraction": fraction, "message": message, **to_jsonable(data)},
        )
        self.exe.write_soon()


class RunContext:
    """The `run` argument of a workflow function."""

    def __init__(self, exe: RunExecution) -> None:
        self._exe = exe
        self._rng: random.Random | None = None

    # identity --------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        """This run's id."""
        return self._exe.run.id

    @property
    def tenant(self) -> str:
        """The tenant the run belongs to."""
        return self._exe.run.tenant

    @property
    def session_id(self) -> str | None:
        """The client stream this run reports to, if any."""
        return self._exe.run.session_id

    @property
    def is_replaying(self) -> bool:
        """Whether the next step will come from history (don't log twice)."""
        return self._exe.next_step_id + 1 in self._exe.history

    # steps -----------------------------------------------------------------------
    def step(
        self, target: StepTarget, data: Any = None, *, name: str | None = None
    ) -> Awaitable[Any]:
        """Run an agent (or a registered agent name, or an async function) as a
        checkpointed step. The step id is taken now, so `gather` order is stable."""
        spec = self._resolve(target)
        step_id = self._exe.allocate_step()
        return self._run_step(step_id, spec, data, name or spec.name)

    call = step

    def _resolve(self, target: StepTarget) -> Agent[Any]:
        if isinstance(target, Agent):
            return target
        if isinstance(target, str):
            return self._exe.app.get_agent(target)
        return self._exe.app.adhoc_agent(target)

    async def _run_step(
        self, step_id: int, spec: Agent[Any], data: Any, name: str
    ) -> Any:
        exe = self._exe
        arg = to_jsonable(data)
        input_digest = digest(arg)
        recorded = exe.recorded(step_id, name, "step", input_digest)
        if recorded is not None and recorded.status == "completed":
            return revive(spec.output_type, recorded.output)
        if recorded is not None and recorded.status == "failed":
            raise _failure(recorded)
        await exe.settle()  # the previous step's checkpoint is durable before this runs
        if exe.cancel_requested.is_set():
            raise asyncio.CancelledError("the run was cancelled; no new steps start")
        ctx = StepContext(
            name=name,
            run_id=exe.run.id,
            step_id=step_id,
            tenant=exe.run.tenant,
            session_id=exe.run.session_id,
            observer=_Observer(exe, name, step_id),
            cancel_requested=exe.cancel_requested,
        )
        started_at = exe.app.clock.now()
        exe.active_steps += 1
        try:
            result, attempts = await call_with_policies(
                exe.app.runtime, spec, ctx, data
            )
            output = to_jsonable(result)
            check_size(f"step {name} output", output, exe.app.settings.max_step_bytes)
        except Exception as error:
            info = error_info(error)
            info["attempts"] = ctx.attempt
            record = StepRecord(
                exe.run.id, step_id, name, "step", "failed", input_digest,
                error=info, attempts=ctx.attempt, started_at=started_at,
                finished_at=exe.app.clock.now(),
            )  # fmt: skip
            exe.emit(
                EventType.STEP_FAILED,
                step=name,
                attempt=ctx.attempt,
                data={"error": {"type": info["type"], "message": info["message"]}},
            )
            await exe.write(steps=[record])
            raise _failure(record) from error
        finally:
            exe.active_steps -= 1
        record = StepRecord(
            exe.run.id, step_id, name, "step", "completed", input_digest,
            output=output, attempts=attempts, started_at=started_at,
            finished_at=exe.app.clock.now(),
        )  # fmt: skip
        exe.emit(
            EventType.STEP_COMPLETED,
            step=name,
            attempt=attempts,
            data={"step_id": step_id, "output": output},
        )
        # Not awaited here: the next step (or the run's end) waits for it, so the
        # last checkpoint and the run's completion share one commit.
        exe.checkpoint(steps=[record])
        return result if spec.output_type is not Any else output

    async def gather(self, *steps: Awaitable[T], limit: int | None = None) -> list[T]:
        """Fan out and in: await all `steps` (at most `limit` at once); on the first
        failure the rest are cancelled and the failure is raised."""
        if limit is not None:
            semaphore = asyncio.Semaphore(limit)

            async def bounded(step: Awaitable[T]) -> T:
                async with semaphore:
                    return await step

            steps = tuple(bounded(step) for step in steps)
        tasks = [asyncio.ensure_future(step) for step in steps]
        try:
            return list(await asyncio.gather(*tasks))
        except BaseException:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    async def child(
        self, workflow: Workflow[T] | str, data: Any = None, *, key: str | None = None
    ) -> T:
        """Start a child workflow and wait for its result (a checkpointed step)."""
        app = self._exe.app
        spec = app.get_workflow(
            workflow if isinstance(workflow, str) else workflow.name
        )
        step_id = self._exe.allocate_step()
        parent = self._exe.run

        async def start_and_wait(child_input: Any) -> Any:
            from .timers import waiting

            with waiting(self._exe):
                return await app.run(
                    spec.name,
                    child_input,
                    tenant=parent.tenant,
                    key=key,
                    idempotency_key=f"{parent.id}:{step_id}",
                    session_id=parent.session_id,
                    parent_run_id=parent.id,
                )

        runner = dataclasses.replace(
            make_agent(start_and_wait, name=f"child:{spec.name}"),
            output_type=spec.output_type,
        )
        result: T = await self._run_step(step_id, runner, data, runner.name)
        return result

    # timers and signals ------------------------------------------------------------
    async def sleep(self, seconds: float) -> None:
        """A durable timer: survives restarts; a recovered run waits only the rest."""
        from .timers import durable_sleep

        await durable_sleep(self._exe, self._exe.allocate_step(), seconds)

    async def wait_for_signal(
        self, name: str, *, timeout_s: float | None = None
    ) -> Any:
        """Wait for the next signal `name` (sent before or after this call); returns
        its payload, or None on timeout."""
        from .timers import wait_for_signal

        return await wait_for_signal(
            self._exe, self._exe.allocate_step(), name, timeout_s
        )

    # state, progress, determinism --------------------------------------------------
    def set_query(self, name: str, value: Any) -> None:
        """Publish `value` under `name` for `GET /v1/runs/{id}/query/{name}`."""
        self._exe.set_query(name, value)

    def progress(self, fraction: float | None = None, message: str = "") -> None:
        """Report the run's overall progress (drives `conveyor run`'s progress bar)."""
        if self.is_replaying:
            return
        self._exe.emit(
            EventType.RUN_PROGRESS, data={"fraction": fraction, "message": message}
        )
        self._exe.write_soon()

    def now(self) -> float:
        """The current time, recorded: a replay sees the same value."""
        exe = self._exe
        step_id = exe.allocate_step()
        recorded = exe.recorded(step_id, "now", "now", "")
        if recorded is not None:
            return float(recorded.output)
        value = exe.app.clock.now()
        record = StepRecord(
            exe.run.id, step_id, "now", "now", "completed", "", output=value,
            started_at=value, finished_at=value,
        )  # fmt: skip
        exe.write(steps=[record])  # durable with the next checkpoint
        return value

    @property
    def _random(self) -> random.Random:
        """The run's random source, seeded by the run id (made on first use)."""
        if self._rng is None:
            self._rng = random.Random(self._exe.run.id)
        return self._rng

    def random(self) -> float:
        """A random float in [0, 1), the same on replay (seeded by the run id)."""
        return self._random.random()

    def choice(self, options: Sequence[T]) -> T:
        """A random element, the same on replay."""
        return self._random.choice(options)

    def uuid(self) -> str:
        """A random UUID, the same on replay."""
        return str(uuid.UUID(int=self._random.getrandbits(128), version=4))


def _failure(record: StepRecord) -> Exception:
    from .errors import StepFailedError

    error = record.error or {}
    return StepFailedError(
        record.name,
        str(error.get("type", "Error")),
        str(error.get("message", "")),
        int(error.get("attempts", record.attempts)),
        error.get("details"),
    )
