"""Run dispatch over JetStream: one durable pull consumer per partition, each in a
priority group with the `pinned_client` policy, so exactly one worker at a time
receives a partition's runs, in order; when it stops pulling the server moves the
pin to another worker after `pin_ttl_s` (at once when it unpins). A `PinBalancer`
spreads the pins over the workers.

nats-py 2.16 has no typed API for priority groups, so consumers are created and
pulled through the raw JetStream API (`$JS.API.CONSUMER.*`) on the core
connection; acks, naks and terms use the message's reply subject as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from nats.aio.client import Client
from nats.aio.msg import Msg

from ..errors import ConfigurationError
from ..workflows import DEFAULT_QUEUE
from .nats_pins import PinBalancer
from .nats_subjects import Subjects

log = logging.getLogger(__name__)

GROUP = "workers"
NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Delivery:
    """One dispatch message as a worker sees it."""

    run_id: str
    data: dict[str, Any]
    delivered: int
    max_deliver: int

    @property
    def last_try(self) -> bool:
        """Whether the broker will not deliver this message again."""
        return self.delivered >= self.max_deliver


class Outcome:
    """What to do with a delivered message."""

    ACK = "ack"
    TERM = "term"

    @staticmethod
    def nak(delay_s: float) -> tuple[str, float]:
        """Deliver it again after `delay_s`."""
        return ("nak", delay_s)


DeliveryHandler = Callable[[Delivery], Awaitable[str | tuple[str, float]]]


@dataclass(frozen=True, slots=True)
class DispatchConfig:
    """Tuning of the dispatch consumers."""

    ack_wait_s: float = 30.0
    max_deliver: int = 5
    pin_ttl_s: float = 5.0
    batch: int = 128
    max_expires_s: float = 5.0

    @property
    def expires_s(self) -> float:
        """How long a pull waits for messages: under half the pin timeout, as a
        pinned worker keeps its pin only by pulling again within it (a pull left
        open does not count)."""
        return min(self.max_expires_s, self.pin_ttl_s / 2)


async def ensure_consumers(
    nc: Client,
    subjects: Subjects,
    config: DispatchConfig,
    queues: Iterable[str] = (DEFAULT_QUEUE,),
) -> None:
    """Create (or confirm) the pinned consumer of every partition of `queues`."""
    for queue, partition in itertools.product(queues, range(subjects.partitions)):
        name = subjects.consumer(partition, queue)
        body = {
            "stream_name": subjects.runs_stream,
            "config": {
                "durable_name": name,
                "filter_subject": subjects.dispatch(partition, queue),
                "ack_policy": "explicit",
                "deliver_policy": "all",
                "ack_wait": int(config.ack_wait_s * NS),
                "max_deliver": config.max_deliver,
                "max_waiting": 512,
                "priority_groups": [GROUP],
                "priority_policy": "pinned_client",
                "priority_timeout": int(config.pin_ttl_s * NS),
            },
        }
        reply = await nc.request(
            f"$JS.API.CONSUMER.CREATE.{subjects.runs_stream}.{name}",
            json.dumps(body).encode(),
            timeout=10,
        )
        answer = json.loads(reply.data)
        if "error" in answer:
            raise ConfigurationError(
                f"cannot create consumer {name}: {answer['error']}"
            )


class PartitionPuller:
    """Pulls one partition for as long as it runs. Messages reach the handler in
    stream order — each handler call starts (and runs to its first `await`) before
    the next one — and up to `config.batch` are handled at a time."""

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        partition: int,
        config: DispatchConfig,
        handler: DeliveryHandler,
        queue: str = DEFAULT_QUEUE,
        balancer: PinBalancer | None = None,
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.partition = partition
        self.queue = queue
        self.config = config
        self.handler = handler
        self.balancer = balancer
        self.pin_id: str | None = None
        self.handing_over = False
        """Set by the balancer: end the current pull, then give the pin up."""
        self.stopping = False
        self.handled = 0
        self._inbox: asyncio.Queue[Msg | None] | None = None
        self._slots = asyncio.Semaphore(config.batch)
        self._handling: set[asyncio.Task[None]] = set()
        self._consumer = subjects.consumer(partition, queue)
        self._subject = (
            f"$JS.API.CONSUMER.MSG.NEXT.{subjects.runs_stream}.{self._consumer}"
        )

    async def run(self) -> None:
        """Pull and handle until cancelled or `stopping`; then wait for the
        messages being handled."""
        try:
            while not self.stopping:
                try:
                    if self._may_pull():
                        await self._pull_once()
                    else:
                        await asyncio.sleep(self._idle_s)
                    if self.handing_over:
                        await self.unpin()
                        self.handing_over = False
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # disconnected, or the server restarting
                    log.debug("partition %s pull failed: %s", self.partition, exc)
                    await asyncio.sleep(0.2)
        finally:
            if self._handling:
                await asyncio.gather(*list(self._handling), return_exceptions=True)

    @property
    def _idle_s(self) -> float:
        return self.balancer.interval_s / 2 if self.balancer is not None else 0.5

    def _may_pull(self) -> bool:
        """Pull while pinned; without the pin only while the balancer lets this
        worker take more partitions."""
        if self.pin_id is not None or self.balancer is None:
            return True
        return self.balancer.may_take(self.queue)

    async def unpin(self) -> None:
        """Give the partition's pin up now (no pull of ours is open), so a worker
        still pulling it is pinned at once rather than after the pin timeout."""
        if self.pin_id is None:
            return
        self.pin_id = None
        reply = await self.nc.request(
            f"$JS.API.CONSUMER.UNPIN.{self.subjects.runs_stream}.{self._consumer}",
            json.dumps({"group": GROUP}).encode(),
            timeout=2,
        )
        log.debug("unpinned partition %s: %s", self.partition, reply.data[:200])

    async def stop(self) -> None:
        """Stop pulling soon: give the pin up, take what the server was already
        sending (a tenth of a second of quiet), then end."""
        self.stopping = True
        await self.unpin()
        if self._inbox is not None:
            self._inbox.put_nowait(None)

    async def _pull_once(self) -> None:
        queue: asyncio.Queue[Msg | None] = asyncio.Queue()
        self._inbox = queue

        async def collect(msg: Msg) -> None:
            queue.put_nowait(msg)

        inbox = self.nc.new_inbox()
        sub = await self.nc.subscribe(inbox, cb=collect)
        try:
            request: dict[str, Any] = {
                "batch": self.config.batch,
                "expires": int(self.config.expires_s * NS),
                "group": GROUP,
            }
            if self.pin_id is not None:
                request["id"] = self.pin_id
            await self.nc.publish(self._subject, json.dumps(request).encode(), inbox)
            received = 0
            while received < self.config.batch:
                try:
                    async with asyncio.timeout(
                        0.1 if self.stopping else self.config.expires_s + 2
                    ):
                        msg = await queue.get()
                except TimeoutError:
                    return
                if msg is None:  # woken by stop()
                    continue
                headers = msg.headers or {}
                status = headers.get("Status")
                if status is not None:
                    if status == "423":  # pinned to another client now
                        self.pin_id = None
                    if status in ("409", "423"):
                        await asyncio.sleep(0.05)
                    return
                self.pin_id = headers.get("Nats-Pin-Id", self.pin_id)
                received += 1
                await self._slots.acquire()
                task = asyncio.create_task(self._handle_in_slot(msg))
                self._handling.add(task)
                task.add_done_callback(self._handling.discard)
        finally:
            self._inbox = None
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

    async def _handle_in_slot(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        finally:
            self._slots.release()

    async def _handle(self, msg: Msg) -> None:
        try:
            payload = json.loads(msg.data)
            delivery = Delivery(
                run_id=str(payload["run_id"]),
                data=dict(payload.get("data") or {}),
                delivered=msg.metadata.num_delivered,
                max_deliver=self.config.max_deliver,
            )
        except (ValueError, KeyError, TypeError):
            log.warning("dropping a malformed dispatch message: %r", msg.data[:200])
            await msg.term()
            return
        try:
            outcome = await self.handler(delivery)
        except Exception:
            log.exception("dispatch handler failed for run %s", delivery.run_id)
            outcome = Outcome.nak(1.0)
        self.handled += 1
        if outcome == Outcome.ACK:
            await msg.ack()
        elif outcome == Outcome.TERM:
            await msg.term()
        else:
            await msg.nak(delay=float(outcome[1]))
