"""Example workflows that `conveyor serve` mounts (unless `--no-examples`): small,
runnable demonstrations of steps, progress, timers, fan-out, signals, queries,
retries and dead letters, to try the CLI, the API and the dashboard on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from .agents import Agent, StepContext, agent
from .app import Conveyor
from .context import RunContext
from .policies import RetryPolicy
from .settings import Settings
from .workflows import Workflow, workflow

# Short backoffs: the examples should show retries, not make anybody wait for them.
DEMO_RETRY = RetryPolicy(max_attempts=5, initial_backoff_s=0.1, max_backoff_s=1.0)


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# hello --------------------------------------------------------------------------------
class HelloInput(_Input):
    """Input of `hello`."""

    name: str = Field(min_length=1, max_length=200)


@agent
async def normalize_name(name: str) -> str:
    """Trim and title-case a name."""
    return " ".join(name.split()).title()


@agent
async def compose_greeting(name: str) -> str:
    """Greet someone by name."""
    return f"Hello, {name}"


@agent
async def punctuate(text: str) -> str:
    """Finish a sentence."""
    return f"{text}!"


@workflow
async def hello(run: RunContext, input: HelloInput) -> dict[str, str]:
    """Greet a name in three steps."""
    name = await run.step(normalize_name, input.name)
    greeting = await run.step(compose_greeting, name)
    return {"greeting": await run.step(punctuate, greeting)}


# pipeline -----------------------------------------------------------------------------
class PipelineInput(_Input):
    """Input of `pipeline`: how many items to process and how long each takes."""

    items: int = Field(5, ge=1, le=1000)
    delay_s: float = Field(0.2, ge=0, le=60)


@agent
async def prepare_items(count: int) -> list[int]:
    """The work list."""
    return list(range(1, count + 1))


@agent
async def process_item(ctx: StepContext, item: dict[str, Any]) -> int:
    """Pretend to work on one item for `delay_s` seconds; returns its square."""
    ctx.progress(0.0, f"item {item['item']}")
    await asyncio.sleep(item["delay_s"])
    return int(item["item"]) ** 2


@agent
async def summarize(values: list[int]) -> dict[str, int]:
    """Fan-in: count and total of the processed items."""
    return {"count": len(values), "total": sum(values)}


@workflow
async def pipeline(run: RunContext, input: PipelineInput) -> dict[str, int]:
    """Prepare, wait briefly, process every item in parallel, summarize; reports
    its progress as it goes."""
    run.progress(0.0, "preparing")
    items = await run.step(prepare_items, input.items)
    run.progress(0.1, "waiting for the batch window")
    await run.sleep(input.delay_s)
    run.progress(0.2, f"processing {len(items)} items")
    done = 0

    async def tracked(step: Awaitable[int]) -> int:
        nonlocal done
        value = await step
        done += 1
        run.progress(0.2 + 0.7 * done / len(items), f"{done}/{len(items)} items")
        return value

    # Steps are created (and numbered) in order here, before any of them runs.
    steps = [
        run.step(process_item, {"item": item, "delay_s": input.delay_s})
        for item in items
    ]
    values = await run.gather(*(tracked(step) for step in steps), limit=4)
    run.progress(0.95, "summarizing")
    summary: dict[str, int] = await run.step(summarize, values)
    run.progress(1.0, "done")
    return summary


# approval -----------------------------------------------------------------------------
class ApprovalInput(_Input):
    """Input of `approval`: what needs approving and how long to wait for it."""

    request: str = "deploy"
    timeout_s: float | None = Field(None, gt=0)


@workflow
async def approval(run: RunContext, input: ApprovalInput) -> dict[str, Any]:
    """Wait for the signal "approve" (payload e.g. `{"approved": true, "by": "ann"}`);
    query "status" tells where it stands."""
    run.set_query("status", "waiting for approval")
    payload = await run.wait_for_signal("approve", timeout_s=input.timeout_s)
    if payload is None:
        run.set_query("status", "timed out")
        return {"request": input.request, "approved": False, "reason": "timed out"}
    decision = payload if isinstance(payload, dict) else {"approved": bool(payload)}
    approved = bool(decision.get("approved", True))
    run.set_query("status", "approved" if approved else "rejected")
    return {"request": input.request, "approved": approved, "by": decision.get("by")}


# flaky --------------------------------------------------------------------------------
class FlakyInput(_Input):
    """Input of `flaky`: how many attempts fail before one succeeds (5 or more
    exhausts the retries and dead-letters the run)."""

    failures: int = Field(2, ge=0, le=100)


class TransientError(RuntimeError):
    """A failure that goes away if you try again."""


@agent(retry=DEMO_RETRY)
async def unreliable_call(ctx: StepContext, failures: int) -> str:
    """Fail the first `failures` attempts, then succeed."""
    if ctx.attempt <= failures:
        raise TransientError(f"attempt {ctx.attempt} of {failures + 1} fails")
    return f"succeeded on attempt {ctx.attempt}"


@workflow
async def flaky(run: RunContext, input: FlakyInput) -> dict[str, str]:
    """One step that fails a few times and is retried until it succeeds."""
    return {"result": await run.step(unreliable_call, input.failures)}


# always_fails -------------------------------------------------------------------------
class PermanentError(RuntimeError):
    """A failure that no retry fixes."""


@agent(retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.2))
async def doomed_call(ctx: StepContext, data: Any) -> None:
    """Fail every attempt."""
    raise PermanentError(f"attempt {ctx.attempt} failed, as it always does")


@workflow
async def always_fails(run: RunContext, input: dict[str, Any] | None) -> None:
    """A step that fails every attempt, so the run ends in the dead-letter queue
    (try `conveyor dlq list` and `conveyor dlq replay`)."""
    await run.step(doomed_call, input)


EXAMPLE_WORKFLOWS: list[Workflow[Any]] = [
    hello,
    pipeline,
    approval,
    flaky,
    always_fails,
]
"""The example workflows, in the order the docs introduce them."""

EXAMPLE_AGENTS: list[Agent[Any]] = [
    normalize_name,
    compose_greeting,
    punctuate,
    prepare_items,
    process_item,
    summarize,
    unreliable_call,
    doomed_call,
]
"""The agents the example workflows call."""


def mount_examples(app: Conveyor) -> list[str]:
    """Register the examples on `app`, leaving alone any name it already uses;
    returns the names of the workflows registered."""
    mounted: list[str] = []
    definitions: list[Agent[Any] | Workflow[Any]] = [
        *EXAMPLE_AGENTS,
        *EXAMPLE_WORKFLOWS,
    ]
    for definition in definitions:
        table: dict[str, Any] = (
            app.workflows if isinstance(definition, Workflow) else app.agents
        )
        if definition.name in table:
            continue
        app.register(definition)
        if isinstance(definition, Workflow):
            mounted.append(definition.name)
    return mounted


def example_app(settings: Settings | None = None) -> Conveyor:
    """A `Conveyor` with the example workflows registered (not opened yet)."""
    return Conveyor(
        settings=settings, workflows=EXAMPLE_WORKFLOWS, agents=EXAMPLE_AGENTS
    )
