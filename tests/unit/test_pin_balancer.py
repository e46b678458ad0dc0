"""`PinBalancer`: each worker holds at most its share of a queue's partition pins,
counting the workers it hears from, and hands over the highest partitions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from conveyor.bus.nats_pins import PinBalancer


@dataclass
class FakePuller:
    """What the balancer looks at on a puller."""

    partition: int
    queue: str = "default"
    pin_id: str | None = "pin"
    handing_over: bool = False


@dataclass
class Heard:
    """An announcement as the NATS client delivers it."""

    data: bytes


def balancer(pullers: list[Any]) -> PinBalancer:
    """A balancer of 8 partitions over `pullers` (no connection: nothing is sent)."""
    return PinBalancer(None, "ns.workers", 8, ["default"], lambda: pullers)


async def hear(target: PinBalancer, worker: str, queues: list[str]) -> None:
    """Deliver `worker`'s announcement to `target`."""
    body = json.dumps({"id": worker, "queues": queues}).encode()
    await target._heard(Heard(body))


async def test_alone_a_worker_takes_every_partition() -> None:
    """With no other worker heard, the share is every partition."""
    pullers = [FakePuller(p, pin_id=None) for p in range(8)]
    alone = balancer(pullers)
    assert (alone.workers("default"), alone.target("default")) == (1, 8)
    assert alone.may_take("default"), "an unpinned puller may pull"


async def test_extra_pins_are_handed_over_highest_first() -> None:
    """Hearing two other workers of the queue, a worker holding all 8 pins keeps
    ceil(8 / 3) = 3 and hands over partitions 3-7; it takes no more; workers of
    other queues and its own echo do not count."""
    pullers = [FakePuller(p) for p in range(8)]
    target = balancer(pullers)
    await hear(target, "a", ["default"])
    await hear(target, "b", ["default", "other"])
    await hear(target, "c", ["other"])
    await hear(target, target.id, ["default"])
    assert target.target("default") == 3, f"got {target.target('default')}"
    target.rebalance()
    handed = [p.partition for p in pullers if p.handing_over]
    assert handed == [3, 4, 5, 6, 7], f"expected 3-7 handed over, got {handed}"
    assert not target.may_take("default"), "at its share it takes no more"


async def test_silent_workers_drop_out() -> None:
    """A worker not heard for three intervals no longer counts."""
    target = balancer([])
    await hear(target, "a", ["default"])
    assert target.workers("default") == 2
    seen, queues = target._peers["a"]
    target._peers["a"] = (seen - 3.5 * target.interval_s, queues)
    assert target.workers("default") == 1
