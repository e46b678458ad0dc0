"""`NatsBus`: the bus of distributed mode, on NATS with JetStream.

- Events fan out on core NATS subjects, one message per write, so any API process
  can stream any run; a subscriber that may have missed some (the connection
  dropped) gets `SlowConsumerError` and resumes from the store.
- Runs are dispatched through a JetStream work-queue stream partitioned by key
  (see `nats_dispatch`), deduplicated by `Nats-Msg-Id`; each workflow's queue has
  partitions of its own, so a worker may take only some queues.
- The store's outbox is relayed: a run's dispatch message is written with the run;
  the process that wrote it publishes at once, and every process republishes what
  is still waiting after `relay_grace_s`, so a crash between the commit and the
  publish loses nothing. The database is the truth; the bus only hints.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Collection, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription as NatsSub
from nats.js.api import RetentionPolicy, StreamConfig
from nats.js.errors import BadRequestError

from ..clock import Clock, SystemClock
from ..errors import ConfigurationError, SlowConsumerError
from ..events import Event
from ..workflows import DEFAULT_QUEUE
from .base import Bus, Control, ControlHandler, EventListener, Subscription, Topic
from .nats_dispatch import (
    DeliveryHandler,
    DispatchConfig,
    PartitionPuller,
    ensure_consumers,
)
from .nats_pins import PinBalancer
from .nats_subjects import Subjects, decode_events, encode_events

if TYPE_CHECKING:
    from ..store.base import Store

log = logging.getLogger(__name__)


class NatsSubscription(Subscription):
    """Live events of one topic in this process."""

    def __init__(self, bus: NatsBus, topic: Topic, subject: str, max_queued: int):
        self.topic = topic
        self.subject = subject
        self.max_queued = max_queued
        self.failed = False
        self._bus = bus
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()

    def offer(self, event: Event) -> None:
        """Queue `event`, or end the stream as too slow."""
        if self.failed:
            return
        if self._queue.qsize() >= self.max_queued:
            self.resync()
            return
        self._queue.put_nowait(event)

    def resync(self) -> None:
        """End the stream with `SlowConsumerError`: events may have been missed."""
        if not self.failed:
            self.failed = True
            self._queue.put_nowait(None)
            self._bus.release(self)

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            if event is None:
                if self.failed:
                    raise SlowConsumerError(self.max_queued)
                return
            yield event

    async def aclose(self) -> None:
        self._bus.release(self)
        self._queue.put_nowait(None)


class NatsBus(Bus):
    """Events, controls and dispatch over NATS.

    URL: `nats://host:4222[?namespace=conveyor&partitions=16]`; the namespace
    prefixes every subject and stream, so deployments (or tests) can share a
    server.
    """

    distributes_runs = True

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "conveyor",
        partitions: int = 16,
        dispatch: DispatchConfig | None = None,
        relay_grace_s: float = 2.0,
        relay_repeat_s: float = 30.0,
        relay_interval_s: float = 1.0,
    ) -> None:
        if partitions < 1:
            raise ConfigurationError("partitions must be at least 1")
        self.url = url
        self.subjects = Subjects(namespace, partitions)
        self.dispatch_config = dispatch or DispatchConfig()
        self.relay_grace_s = relay_grace_s
        self.relay_repeat_s = relay_repeat_s
        self.relay_interval_s = relay_interval_s
        self.nc: Client | None = None
        self.store: Store | None = None
        self.clock: Clock = SystemClock()
        self.published = 0
        self._listeners: list[EventListener] = []
        self._handlers: list[ControlHandler] = []
        self._local: dict[str, set[NatsSubscription]] = {}
        self._remote: dict[str, NatsSub] = {}
        self._pending_subs: set[asyncio.Task[None]] = set()
        self._outgoing: deque[tuple[str, bytes]] = deque()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._pullers: list[PartitionPuller] = []
        self._balancer: PinBalancer | None = None
        self._queue_of: dict[str, str] = {}
        self._consumed: set[str] | None = None
        self._closing = False

    @classmethod
    def from_url(cls, url: str) -> NatsBus:
        """A bus for `nats://host:port?namespace=…&partitions=…&pin_ttl=…
        &max_deliver=…&relay_repeat=…` (seconds before the relay sends a waiting
        outbox message again)."""
        parts = urlsplit(url)
        options = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            partitions = int(options.get("partitions", 16))
            dispatch = DispatchConfig(
                pin_ttl_s=float(options.get("pin_ttl", 5.0)),
                max_deliver=int(options.get("max_deliver", 5)),
            )
            relay_repeat_s = float(options.get("relay_repeat", 30.0))
        except ValueError as exc:
            raise ConfigurationError(f"bus URL {url!r}: {exc}") from exc
        return cls(
            urlunsplit(parts._replace(query="")),
            namespace=options.get("namespace", "conveyor"),
            partitions=partitions,
            dispatch=dispatch,
            relay_repeat_s=relay_repeat_s,
        )

    # lifecycle ---------------------------------------------------------------------
    def attach(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock
        if hasattr(store, "outbox"):
            store.outbox = True

    def route_queues(
        self, queues: Mapping[str, str], consume: Collection[str] | None = None
    ) -> None:
        self._queue_of = dict(queues)
        self._consumed = None if consume is None else set(consume)

    @property
    def queues(self) -> list[str]:
        """The queues this process knows of (the default one always)."""
        return sorted({DEFAULT_QUEUE, *self._queue_of.values()})

    @property
    def consumed_queues(self) -> list[str]:
        """The queues this process takes runs from when it consumes."""
        if self._consumed is None:
            return self.queues
        return sorted(self._consumed)

    def queue_of(self, workflow: str | None) -> str:
        """The queue a workflow's runs are dispatched to."""
        return self._queue_of.get(str(workflow), DEFAULT_QUEUE)

    async def open(self) -> None:
        try:
            self.nc = await nats.connect(
                self.url,
                name="conveyor",
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.2,
                connect_timeout=5,
                reconnected_cb=self._reconnected,
                disconnected_cb=self._disconnected,
                error_cb=self._error,
            )
        except Exception as exc:
            raise ConfigurationError(
                f"cannot connect to NATS at {self.url}: {exc}"
            ) from exc
        await self._ensure_streams()
        self.nc_control = await self.nc.subscribe(
            self.subjects.control, cb=self._on_control_msg
        )
        self._tasks.append(asyncio.create_task(self._sender(), name="nats-sender"))
        if self.store is not None and hasattr(self.store, "due_outbox"):
            self._tasks.append(asyncio.create_task(self._relay(), name="nats-relay"))

    async def _ensure_streams(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream()
        for config in (
            StreamConfig(
                name=self.subjects.runs_stream,
                subjects=[self.subjects.runs_subjects],
                retention=RetentionPolicy.WORK_QUEUE,
                duplicate_window=120.0,
            ),
            StreamConfig(
                name=self.subjects.dlq_stream,
                subjects=[self.subjects.dlq],
                retention=RetentionPolicy.LIMITS,
            ),
        ):
            try:
                await js.add_stream(config)
            except BadRequestError:  # exists with another config: align it
                await js.update_stream(config)
        queues = sorted({*self.queues, *self.consumed_queues})
        await ensure_consumers(self.nc, self.subjects, self.dispatch_config, queues)

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.nc is not None:
            self._closing = True  # drain() reports a disconnect: ours, not a fault
            with contextlib.suppress(Exception):
                await self._flush_outgoing()
                await self.nc.drain()
            self.nc = None

    async def _reconnected(self) -> None:
        for subscriptions in list(self._local.values()):
            for subscription in list(subscriptions):
                subscription.resync()  # what was published meanwhile is gone

    async def _disconnected(self) -> None:
        if not self._closing:
            log.warning("disconnected from NATS; reconnecting")

    async def _error(self, exc: Exception) -> None:
        log.debug("NATS: %s", exc)

    # events ------------------------------------------------------------------------
    def add_listener(self, listener: EventListener) -> None:
        self._listeners.append(listener)

    def publish(self, events: list[Event]) -> None:
        for listener in self._listeners:
            for event in events:
                listener(event)
        by_run: dict[str, list[Event]] = {}
        for event in events:
            by_run.setdefault(event.run_id, []).append(event)
        for run_events in by_run.values():
            subject = self.subjects.events(run_events)
            self._outgoing.append((subject, encode_events(run_events)))
        self._wake.set()

    async def _sender(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush_outgoing()
            except Exception as exc:  # events are hints: the store has them
                log.debug("dropping events: %s", exc)
                self._outgoing.clear()

    async def _flush_outgoing(self) -> None:
        assert self.nc is not None
        while self._outgoing:
            subject, payload = self._outgoing.popleft()
            await self.nc.publish(subject, payload)
            self.published += 1

    def subscribe(self, topic: Topic, max_queued: int = 1000) -> NatsSubscription:
        subject = self.subjects.topic(topic)
        subscription = NatsSubscription(self, topic, subject, max_queued)
        local = self._local.setdefault(subject, set())
        local.add(subscription)
        if subject not in self._remote and self.nc is not None:
            task = asyncio.ensure_future(self._subscribe_remote(subject))
            self._pending_subs.add(task)
            task.add_done_callback(self._pending_subs.discard)
        return subscription

    async def _subscribe_remote(self, subject: str) -> None:
        assert self.nc is not None

        async def deliver(msg: Msg) -> None:
            events = decode_events(msg.data)
            for subscription in list(self._local.get(subject, ())):
                for event in events:
                    if subscription.topic.matches(event):
                        subscription.offer(event)

        if subject in self._remote:
            return
        self._remote[subject] = await self.nc.subscribe(subject, cb=deliver)
        if subject not in self._local:  # released while subscribing
            await self._drop_remote(subject)

    async def flush(self) -> None:
        """Wait until every subscription made so far is active on the server."""
        if self._pending_subs:
            await asyncio.gather(*list(self._pending_subs), return_exceptions=True)
        if self.nc is not None and self.nc.is_connected:
            with contextlib.suppress(Exception):
                await self.nc.flush(timeout=5)

    def release(self, subscription: NatsSubscription) -> None:
        """Stop delivering to `subscription`."""
        local = self._local.get(subscription.subject)
        if local is None:
            return
        local.discard(subscription)
        if not local:
            del self._local[subscription.subject]
            if subscription.subject in self._remote:
                task = asyncio.ensure_future(self._drop_remote(subscription.subject))
                self._pending_subs.add(task)
                task.add_done_callback(self._pending_subs.discard)

    async def _drop_remote(self, subject: str) -> None:
        if subject in self._local:
            return
        remote = self._remote.pop(subject, None)
        if remote is not None:
            with contextlib.suppress(Exception):
                await remote.unsubscribe()

    @property
    def subscriber_count(self) -> int:
        """Live subscriptions in this process."""
        return sum(len(subscriptions) for subscriptions in self._local.values())

    # control and dispatch ----------------------------------------------------------
    def on_control(self, handler: ControlHandler) -> None:
        self._handlers.append(handler)

    async def send_control(self, message: Control) -> None:
        if message.kind == "submitted":
            data = message.data
            # Written to the outbox with the run: if this publish is lost, the
            # relay sends it, so there is no broker confirmation to wait for.
            await self.dispatch(
                message.run_id,
                data,
                msg_id=f"run.{message.run_id}.{data.get('seq', 1)}",
                confirm=False,
            )
            return
        assert self.nc is not None
        body = {"kind": message.kind, "run_id": message.run_id, "data": message.data}
        await self.nc.publish(self.subjects.control, json.dumps(body).encode())

    async def _on_control_msg(self, msg: Msg) -> None:
        body = json.loads(msg.data)
        control = Control(body["kind"], body["run_id"], body.get("data") or {})
        for handler in self._handlers:
            try:
                await handler(control)
            except Exception:
                log.exception("control handler failed for %s", control)

    async def dispatch(
        self,
        run_id: str,
        data: dict[str, Any],
        *,
        msg_id: str,
        attempts: int = 5,
        confirm: bool = True,
    ) -> bool:
        """Publish a run's dispatch to its partition; False if the broker did not
        confirm it (the outbox or the reclaimer will send it again). Without
        `confirm`, it is only handed to the connection (for messages in the
        outbox)."""
        assert self.nc is not None
        if self._pending_subs:
            # Subscriptions made before this dispatch reach the server before it
            # (one connection, in order), so they see every event of the run.
            await asyncio.gather(*list(self._pending_subs), return_exceptions=True)
        partition = self.subjects.partition(
            str(data.get("tenant", "")), data.get("key"), run_id
        )
        subject = self.subjects.dispatch(partition, self.queue_of(data.get("workflow")))
        body = json.dumps({"run_id": run_id, "data": data}).encode()
        headers = {"Nats-Msg-Id": msg_id}
        if not confirm:
            try:
                await self.nc.publish(subject, body, headers=headers)
            except Exception as exc:  # the relay sends it
                log.debug("dispatch of %s not sent (%s)", run_id, exc)
                return False
            return True
        js = self.nc.jetstream()
        for attempt in range(attempts):
            try:
                await js.publish(subject, body, timeout=5, headers=headers)
                return True
            except Exception as exc:
                log.debug(
                    "dispatch of %s failed (%s), attempt %s", run_id, exc, attempt
                )
                await asyncio.sleep(min(0.1 * 2**attempt, 2.0))
        return False

    async def dead_letter(self, run_id: str, data: dict[str, Any], reason: str) -> None:
        """Park an undeliverable dispatch in the dead-letter stream with its reason."""
        assert self.nc is not None
        body = {"run_id": run_id, "data": data, "reason": reason}
        with contextlib.suppress(Exception):
            await self.nc.jetstream().publish(
                self.subjects.dlq, json.dumps(body).encode(), timeout=5
            )

    async def consume(self, handler: DeliveryHandler) -> None:
        """Start pulling the partitions of the consumed queues (only the pinned
        ones deliver), sharing them with the other workers."""
        assert self.nc is not None
        queues = self.consumed_queues
        self._balancer = PinBalancer(
            self.nc, self.subjects.workers, self.subjects.partitions, queues,
            lambda: self._pullers,
            interval_s=min(1.0, self.dispatch_config.pin_ttl_s / 2),
        )  # fmt: skip
        await self._balancer.start()
        for queue in queues:
            for partition in range(self.subjects.partitions):
                puller = PartitionPuller(
                    self.nc, self.subjects, partition, self.dispatch_config, handler,
                    queue, self._balancer,
                )  # fmt: skip
                self._pullers.append(puller)
                self._tasks.append(
                    asyncio.create_task(puller.run(), name=f"pull-{queue}-{partition}")
                )

    async def stop_consuming(self) -> None:
        """Stop pulling and hand the pins over at once (a draining worker's
        handler sends back what still arrives)."""
        pulling = list(self._pullers)
        self._pullers = []
        if self._balancer is not None:
            await self._balancer.aclose()
            self._balancer = None
        names = {f"pull-{p.queue}-{p.partition}" for p in pulling}
        stopping = [task for task in self._tasks if task.get_name() in names]
        await asyncio.gather(*(p.stop() for p in pulling), return_exceptions=True)
        if stopping:
            _, late = await asyncio.wait(stopping, timeout=2.0)
            for task in late:
                task.cancel()
            await asyncio.gather(*stopping, return_exceptions=True)
        self._tasks = [task for task in self._tasks if task not in stopping]

    @property
    def pinned_partitions(self) -> list[int]:
        """Partitions this process currently holds the pin of."""
        return [p.partition for p in self._pullers if p.pin_id is not None]

    # the outbox relay --------------------------------------------------------------
    async def _relay(self) -> None:
        store = self.store
        assert store is not None
        while True:
            await asyncio.sleep(self.relay_interval_s)
            try:
                await self.relay_once()
            except Exception as exc:  # store or broker away: next round
                log.debug("outbox relay: %s", exc)

    async def relay_once(self) -> int:
        """Republish outbox messages nobody has acted on; returns how many."""
        due = await self.store.due_outbox(  # type: ignore[union-attr]
            self.clock.now(), self.relay_grace_s, self.relay_repeat_s
        )
        for message in due:
            await self.dispatch(
                message.run_id,
                message.data,
                msg_id=f"{message.msg_id}.r{message.attempts}",
            )
        return len(due)


def open_nats_bus(url: str) -> NatsBus:
    """The bus for a `nats://` URL."""
    return NatsBus.from_url(url)
