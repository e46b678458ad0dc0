"""The five stages as engine workflows: Intake → Triage → Policy → Playbook → Tool.

Every event of an exception is one run per stage. A stage's runs of one exception
share the engine key `<exception id>:<stage>`, so the engine starts them in
submission order and never two at once, whichever worker takes them; and each
stage submits the next stage's run while it runs, so the next stage receives the
events in the order it processed them. By induction every stage processes an
exception's events in the order they were produced, while an exception's events
flow through different stages at once and different exceptions in parallel.

A stage does its work and records it in one step, and in that same step hands its
typed context to the next stage by starting its run under an idempotency key made
of the event id and the next stage — a step that runs again after a crash finds
the run it already started instead of starting a second.

Tool execution runs each playbook step as a step of its own, calling the tool with
the step's idempotency key, so a retried or recovered step has its effect once.
A stage that fails for good parks its event as dead-lettered before the engine
moves its run to the dead letters; a replay puts the event back and carries on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from conveyor import (
    Agent,
    LeaseLostError,
    RunContext,
    StepContext,
    StepFailedError,
    Workflow,
)
from conveyor.agents import make_agent
from conveyor.workflows import make_workflow

from .handoffs import (
    EventContext,
    EventType,
    IntakeInput,
    PlaybookInput,
    PolicyInput,
    Stage,
    StageOutcome,
    ToolCall,
    ToolInput,
    TriageInput,
)
from .models import ExceptionReport, NormalizedException, normalize
from .playbooks import select_playbook
from .policy import decide
from .repository import Outcome
from .telemetry import current_traceparent
from .tools import ToolRequest, ToolResult
from .triage import triage

if TYPE_CHECKING:
    from .platform import ExceptionPlatform


def build_stages(platform: ExceptionPlatform) -> list[Workflow[Any] | Agent[Any]]:
    """The stage workflows and their agents, bound to `platform`."""
    work = StageWork(platform)
    retry = platform.settings.tool_retry()
    steps: dict[str, Agent[Any]] = {
        "intake": make_agent(work.intake, name="exceptions.intake.step"),
        "triage": make_agent(work.triage, name="exceptions.triage.step"),
        "policy": make_agent(work.policy, name="exceptions.policy.step"),
        "playbook": make_agent(work.playbook, name="exceptions.playbook.step"),
        "tool": make_agent(work.tool_call, name="exceptions.tool.call", retry=retry),
        "finish": make_agent(work.tool_finish, name="exceptions.tool.finish"),
    }
    work.steps = steps
    stages: dict[Stage, Callable[..., Awaitable[StageOutcome]]] = {
        Stage.INTAKE: work.intake_stage,
        Stage.TRIAGE: work.triage_stage,
        Stage.POLICY: work.policy_stage,
        Stage.PLAYBOOK: work.playbook_stage,
        Stage.TOOL: work.tool_stage,
    }
    # each stage is a queue of its own: `conveyor worker --stage triage`
    flows = [
        make_workflow(fn, name=stage.workflow, queue=stage.value)
        for stage, fn in stages.items()
    ]
    return [*steps.values(), *flows]


class StageWork:
    """What each stage does: the steps (agents) and the workflows around them."""

    def __init__(self, platform: ExceptionPlatform) -> None:
        self.platform = platform
        self.repo = platform.repository
        self.clock = platform.conveyor.clock
        self.steps: dict[str, Agent[Any]] = {}

    # hand-off and records --------------------------------------------------------
    async def hand_off(self, stage: Stage, data: EventContext) -> StageOutcome:
        """Start the next stage's run for this event (once, whatever happens),
        as a child of this stage's span."""
        linked = data.model_copy(update={"trace": current_traceparent() or data.trace})
        handle = await self.platform.conveyor.start(
            stage.workflow,
            linked.model_dump(mode="json"),
            tenant=data.tenant,
            key=stage.key(data.exception_id, self.platform.settings.tenant_lanes),
            session_id=data.exception_id,
            idempotency_key=f"{data.event_id}:{stage.value}",
        )
        done = _PREVIOUS[stage]
        return StageOutcome(stage=done, status=done.reached, next_run_id=handle.run_id)

    async def record(
        self,
        ctx: StepContext,
        data: TriageInput,
        stage: Stage,
        result: dict[str, Any],
        started_at: float,
        outcome: Outcome | None = None,
    ) -> None:
        """Record what `stage` did and move the event on."""
        status = stage.reached
        if isinstance(data, ToolInput):
            status = data.selection.outcome
        await self.repo.record_stage(
            data,
            data.seq,
            stage,
            status,
            run_id=str(ctx.run_id),
            attempts=ctx.attempt,
            result=result,
            started_at=started_at,
            now=self.clock.now(),
            outcome=outcome,
        )

    # steps -----------------------------------------------------------------------
    async def intake(self, ctx: StepContext, data: IntakeInput) -> StageOutcome:
        """Validate and normalize the report (or merge an update into the
        exception), store the event, hand it to Triage."""
        await self.platform.ready()
        started = self.clock.now()
        exception = await _normalized(self.platform, data)
        snapshot = exception.model_dump(mode="json")
        seq = await self.repo.record_intake(
            data, snapshot, str(ctx.run_id), started, self.clock.now()
        )
        base = data.model_dump(exclude={"report", "update"})
        nxt = TriageInput.model_validate({**base, "seq": seq, "exception": exception})
        return await self.hand_off(Stage.TRIAGE, nxt)

    async def triage(self, ctx: StepContext, data: TriageInput) -> StageOutcome:
        """Give the exception a severity and a category by the rules."""
        await self.platform.ready()
        started = self.clock.now()
        answer = triage(data.exception, self.platform.rules)
        outcome = Outcome(category=answer.category, severity=answer.severity)
        result = answer.model_dump(mode="json")
        await self.record(ctx, data, Stage.TRIAGE, result, started, outcome)
        nxt = PolicyInput.model_validate({**data.model_dump(), "triage": answer})
        return await self.hand_off(Stage.POLICY, nxt)

    async def policy(self, ctx: StepContext, data: PolicyInput) -> StageOutcome:
        """Apply the tenant's policy (as stored now) to the triaged exception."""
        await self.platform.ready()
        started = self.clock.now()
        tenant, version = await self.platform.tenant_with_policy(data.tenant)
        decision = decide(data.exception, data.triage, tenant)
        result = {**decision.model_dump(mode="json"), "policy_version": version}
        outcome = Outcome(action=decision.action)
        await self.record(ctx, data, Stage.POLICY, result, started, outcome)
        nxt = PlaybookInput.model_validate({**data.model_dump(), "decision": decision})
        return await self.hand_off(Stage.PLAYBOOK, nxt)

    async def playbook(self, ctx: StepContext, data: PlaybookInput) -> StageOutcome:
        """Choose the tool steps for the exception under the decision."""
        await self.platform.ready()
        started = self.clock.now()
        chosen = select_playbook(data.triage, data.decision, self.platform.playbooks)
        result = chosen.model_dump(mode="json")
        outcome = Outcome(playbook=chosen.playbook)
        await self.record(ctx, data, Stage.PLAYBOOK, result, started, outcome)
        nxt = ToolInput.model_validate({**data.model_dump(), "selection": chosen})
        return await self.hand_off(Stage.TOOL, nxt)

    async def tool_call(self, ctx: StepContext, call: ToolCall) -> ToolResult:
        """Run one tool with the step's idempotency key and record the execution."""
        await self.platform.ready()
        result = await self.platform.toolbox.run(
            call.request, idempotency_key=ctx.idempotency_key
        )
        await self.repo.record_tool(call, result, ctx.attempt, self.clock.now())
        self.platform.telemetry.tool_called(call, result, ctx.attempt)
        return result

    async def tool_finish(self, ctx: StepContext, data: ToolInput) -> StageOutcome:
        """Record the tool stage and the event's outcome."""
        await self.platform.ready()
        started = data.started_at or self.clock.now()
        result = {"executed": [step.tool.value for step in data.selection.steps]}
        outcome = Outcome(finished=True)
        await self.record(ctx, data, Stage.TOOL, result, started, outcome)
        return StageOutcome(stage=Stage.TOOL, status=data.selection.outcome)

    # workflows -------------------------------------------------------------------
    async def guarded(
        self, run: RunContext, stage: Stage, data: EventContext, body: Any
    ) -> StageOutcome:
        """Run the stage; a failure that escapes parks the event first."""
        with self.platform.telemetry.stage_span(stage, data, run.run_id):
            try:
                outcome: StageOutcome = await body
                return outcome
            except LeaseLostError:
                raise  # another worker owns the run now and carries on
            except Exception as exc:
                await self.platform.ready()
                await self.repo.dead_lettered(
                    data, stage, _error(exc), self.clock.now()
                )
                raise

    async def intake_stage(self, run: RunContext, data: IntakeInput) -> StageOutcome:
        """Intake: validate, normalize, enrich; then Triage."""
        step = run.step(self.steps["intake"], data)
        return await self.guarded(run, Stage.INTAKE, data, step)

    async def triage_stage(self, run: RunContext, data: TriageInput) -> StageOutcome:
        """Triage: severity and category by rules; then Policy."""
        step = run.step(self.steps["triage"], data)
        return await self.guarded(run, Stage.TRIAGE, data, step)

    async def policy_stage(self, run: RunContext, data: PolicyInput) -> StageOutcome:
        """Policy: what the tenant allows; then Playbook."""
        step = run.step(self.steps["policy"], data)
        return await self.guarded(run, Stage.POLICY, data, step)

    async def playbook_stage(
        self, run: RunContext, data: PlaybookInput
    ) -> StageOutcome:
        """Playbook: the ordered tool steps; then Tool execution."""
        step = run.step(self.steps["playbook"], data)
        return await self.guarded(run, Stage.PLAYBOOK, data, step)

    async def tool_stage(self, run: RunContext, data: ToolInput) -> StageOutcome:
        """Tool execution: each playbook step in order, each call once."""
        return await self.guarded(run, Stage.TOOL, data, self._run_tools(run, data))

    async def _run_tools(self, run: RunContext, data: ToolInput) -> StageOutcome:
        started = run.now()
        context = EventContext.model_validate(
            data.model_dump(include=set(EventContext.model_fields))
        )
        for position, step in enumerate(data.selection.steps):
            request = ToolRequest.for_step(
                data.exception_id, data.exception, data.triage, step
            )
            call = ToolCall(
                context=context,
                seq=data.seq,
                position=position,
                step=step,
                request=request,
            )
            await run.step(self.steps["tool"], call, name=f"tool.{step.tool.value}")
        finish = data.model_copy(update={"started_at": started})
        outcome: StageOutcome = await run.step(self.steps["finish"], finish)
        return outcome


_PREVIOUS = {
    Stage.TRIAGE: Stage.INTAKE,
    Stage.POLICY: Stage.TRIAGE,
    Stage.PLAYBOOK: Stage.POLICY,
    Stage.TOOL: Stage.PLAYBOOK,
}


async def _normalized(
    platform: ExceptionPlatform, data: IntakeInput
) -> NormalizedException:
    """The exception as this event leaves it: a first report normalized, or the
    latest state with the update applied."""
    if data.type is EventType.REPORTED:
        assert data.report is not None
        return normalize(data.report, data.tenant)
    assert data.update is not None
    previous = await platform.repository.latest_snapshot(data.exception_id)
    if previous is None:
        raise LookupError(f"exception {data.exception_id} has no stored event")
    before = NormalizedException.model_validate(previous)
    update = data.update
    report = ExceptionReport(
        source=before.source,
        kind=before.kind,
        message=update.message or before.message,
        occurred_at=before.occurred_at,
        external_ref=before.external_ref,
        attributes={**before.attributes, **update.attributes},
        severity_hint=update.severity_hint or before.severity_hint,
        idempotency_key=before.idempotency_key,
    )
    return normalize(report, data.tenant)


def _error(exc: BaseException) -> dict[str, Any]:
    """What a dead-lettered event shows of the error that parked it."""
    if isinstance(exc, StepFailedError):
        return {
            "type": exc.error_type,
            "message": exc.error_message,
            "step": exc.step,
            "attempts": exc.attempts,
        }
    return {"type": type(exc).__name__, "message": str(exc)}
