"""`PinBalancer`: spreads a queue's partitions over the workers that consume it.

JetStream pins each partition's consumer to whichever worker pulled first, so a
worker started early would keep every partition. Each worker announces itself on
`<ns>.workers` (core NATS) every `interval_s`; from the announcements it hears, a
worker knows how many consume each of its queues and holds at most
`ceil(partitions / workers)` pins of it: it stops pulling partitions it may not
take, and hands extra pins over (its last pull ends, then `$JS.API.CONSUMER.UNPIN`)
to the workers still pulling them. No coordinator: every worker applies the same
rule to what it hears, and a worker that goes silent drops out after
`3 * interval_s` (its pins expire by the consumer's own pin timeout).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

if TYPE_CHECKING:
    from .nats_dispatch import PartitionPuller

log = logging.getLogger(__name__)


class PinBalancer:
    """Counts the workers of each queue and decides which pins this one keeps."""

    def __init__(
        self,
        nc: Client,
        subject: str,
        partitions: int,
        queues: Sequence[str],
        pullers: Callable[[], Sequence[PartitionPuller]],
        interval_s: float = 1.0,
    ) -> None:
        self.nc = nc
        self.subject = subject
        self.partitions = partitions
        self.queues = list(queues)
        self.interval_s = interval_s
        self.id = uuid.uuid4().hex
        self._pullers = pullers
        self._peers: dict[str, tuple[float, frozenset[str]]] = {}
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None

    async def start(self) -> None:
        """Listen to the others and start announcing this worker."""
        self._sub = await self.nc.subscribe(self.subject, cb=self._heard)
        await self._announce()
        self._task = asyncio.create_task(self._run(), name="pin-balancer")

    async def aclose(self) -> None:
        """Stop announcing (the others count this worker out soon after)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception as exc:  # disconnected: nothing to undo
                log.debug("pin balancer unsubscribe: %s", exc)
            self._sub = None

    # counting workers --------------------------------------------------------------
    async def _heard(self, msg: Msg) -> None:
        try:
            body = json.loads(msg.data)
            peer, queues = str(body["id"]), frozenset(body["queues"])
        except (ValueError, KeyError, TypeError):
            return
        if peer != self.id:
            self._peers[peer] = (_now(), queues)

    def workers(self, queue: str) -> int:
        """Live workers consuming `queue`, this one included."""
        horizon = _now() - 3 * self.interval_s
        return 1 + sum(
            1
            for seen, queues in self._peers.values()
            if seen >= horizon and queue in queues
        )

    def target(self, queue: str) -> int:
        """How many of the queue's partitions this worker may hold."""
        return math.ceil(self.partitions / self.workers(queue))

    def held(self, queue: str) -> list[PartitionPuller]:
        """This worker's pullers that hold their partition's pin and keep it."""
        return [
            p
            for p in self._pullers()
            if p.queue == queue and p.pin_id is not None and not p.handing_over
        ]

    def may_take(self, queue: str) -> bool:
        """Whether a puller without a pin may pull (and so perhaps get pinned)."""
        return len(self.held(queue)) < self.target(queue)

    # balancing ---------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self._announce()
            except Exception as exc:  # disconnected: announce again next time
                log.debug("pin balancer announce: %s", exc)
            self.rebalance()

    async def _announce(self) -> None:
        body = {"id": self.id, "queues": self.queues}
        await self.nc.publish(self.subject, json.dumps(body).encode())

    def rebalance(self) -> None:
        """Hand over the pins held beyond each queue's share (highest partitions
        first, so all workers agree on which move)."""
        for queue in self.queues:
            held = sorted(self.held(queue), key=lambda p: p.partition)
            for puller in held[self.target(queue) :]:
                puller.handing_over = True


def _now() -> float:
    return asyncio.get_running_loop().time()
