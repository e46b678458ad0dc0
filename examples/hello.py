"""A first workflow: three checkpointed steps, run on the embedded store.

Run it with `uv run python examples/hello.py`.
"""

from __future__ import annotations

import asyncio
import tempfile

from pydantic import BaseModel

from conveyor import Conveyor, RetryPolicy, RunContext, StepContext, agent, workflow


class Order(BaseModel):
    customer: str
    items: list[str]


@agent
async def price(items: list[str]) -> int:
    """A step without side effects: the same input gives the same output."""
    return 100 * len(items)


@agent(timeout_s=10, retry=RetryPolicy(max_attempts=3))
async def charge(ctx: StepContext, cents: int) -> str:
    """A step with a side effect. `ctx.idempotency_key` is the same on every retry
    and after a crash: pass it to the payment provider so it charges once."""
    ctx.progress(0.5, "charging")
    return f"charge-{ctx.idempotency_key}"


@workflow
async def checkout(run: RunContext, order: Order) -> dict[str, str | int]:
    """Price the order, charge it, and say so."""
    cents = await run.step(price, order.items)
    receipt = await run.step(charge, cents)
    return {"customer": order.customer, "cents": cents, "receipt": receipt}


def make_app(store_url: str | None = None) -> Conveyor:
    """The app. Without `store_url` it uses CONVEYOR_STORE_URL, or else
    sqlite:///conveyor.db in the working directory. The CLI calls this too:
    `conveyor run checkout --local --app examples.hello:make_app`."""
    return Conveyor(store_url=store_url, workflows=[checkout], agents=[price, charge])


async def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        async with make_app(f"sqlite:///{folder}/hello.db") as app:
            handle = await app.start(
                checkout, {"customer": "ana", "items": ["tea", "cake"]}
            )
            async for event in handle.events():
                print(f"{event.seq:>2} {event.type:<15} {event.step or ''}")
            print(await handle.result())


if __name__ == "__main__":
    asyncio.run(main())
