"""Run dispatch over JetStream: one durable pull consumer per partition, each in a
priority group with the `pinned_client` policy, so exactly one worker at a time
receives a partition's runs, in order; when it stops pulling the server moves the
pin to another worker after `pin_ttl_s`.

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
    expires_s: float = 1.0


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
    """Pulls one partition for as long as it runs; handles messages one by one,
    so a partition's runs reach the handler in stream order."""

    def __init__(
        self,
        nc: Client,
        subjects: Subjects,
        partition: int,
        config: DispatchConfig,
        handler: DeliveryHandler,
        queue: str = DEFAULT_QUEUE,
    ) -> None:
        self.nc = nc
        self.subjects = subjects
        self.partition = partition
        self.queue = queue
        self.config = config
        self.handler = handler
        self.pin_id: str | None = None
        self.handled = 0
        self._subject = (
            f"$JS.API.CONSUMER.MSG.NEXT.{subjects.runs_stream}."
            f"{subjects.consumer(partition, queue)}"
        )

    async def run(self) -> None:
        """Pull and handle until cancelled."""
        while True:
            try:
                await self._pull_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # disconnected, or the server restarting
                log.debug("partition %s pull failed: %s", self.partition, exc)
                await asyncio.sleep(0.2)

    async def _pull_once(self) -> None:
        queue: asyncio.Queue[Msg] = asyncio.Queue()

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
                    async with asyncio.timeout(self.config.expires_s + 2):
                        msg = await queue.get()
                except TimeoutError:
                    return
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
                await self._handle(msg)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()

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
