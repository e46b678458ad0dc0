"""Metrics and traces of the platform.

Metrics come from the database, not from one process's counters: the stages run in
many worker processes, so the API process reads what every stage recorded
(records, their latencies, failures, retries, dead-lettered events) into a
snapshot it refreshes in the background, and exposes it on the engine's
`/metrics` as `exceptions_*` series.

Traces: each stage run is an OpenTelemetry span whose parent is the span of the
stage that handed the event over (its W3C `traceparent` travels in the typed
context), under the API's ingest span, so one exception's chain is one trace
across processes. Without an SDK configured the spans cost next to nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
)
from prometheus_client.registry import Collector

from .handoffs import EventContext, Stage, ToolCall
from .schema import events, stage_records, tool_executions
from .status import ExceptionStatus
from .tools import ToolResult

if TYPE_CHECKING:
    from .database import Database
    from .repository import ExceptionRepository

log = logging.getLogger(__name__)
tracer = trace.get_tracer("conveyor_apps.exceptions")
_PROPAGATOR = TraceContextTextMapPropagator()


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to hand to the next stage."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


@contextlib.contextmanager
def ingest_span(tenant: str) -> Iterator[Span]:
    """The root span of an event: the API accepting it."""
    with tracer.start_as_current_span(
        "exceptions.ingest", kind=SpanKind.PRODUCER, attributes={"tenant": tenant}
    ) as span:
        yield span


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Upper bounds (seconds) of the stage latency histogram."""


async def read_stats(database: Database) -> dict[str, Any]:
    """Counts for the metrics: records and latencies per stage, failures per
    stage, dead-lettered events, tool attempts."""

    def work(conn: sa.Connection) -> dict[str, Any]:
        duration = stage_records.c.recorded_at - stage_records.c.started_at
        per_stage = {
            str(r[0]): (int(r[1]), float(r[2] or 0.0), int(r[3] or 0))
            for r in conn.execute(
                sa.select(
                    stage_records.c.stage,
                    sa.func.count(),
                    sa.func.sum(duration),
                    sa.func.sum(stage_records.c.attempts - 1),
                ).group_by(stage_records.c.stage)
            )
        }
        buckets: dict[str, list[int]] = {}
        cases = [
            sa.func.sum(sa.case((duration <= bound, 1), else_=0))
            for bound in LATENCY_BUCKETS
        ]
        for r in conn.execute(
            sa.select(stage_records.c.stage, *cases).group_by(stage_records.c.stage)
        ):
            buckets[str(r[0])] = [int(v or 0) for v in r[1:]]
        failed = {
            str(r[0]): int(r[1])
            for r in conn.execute(
                sa.select(events.c.failed_stage, sa.func.count())
                .where(events.c.failed_stage.is_not(None))
                .group_by(events.c.failed_stage)
            )
        }
        dead = conn.execute(
            sa.select(sa.func.count()).where(
                events.c.status == ExceptionStatus.DEAD_LETTERED.value
            )
        ).scalar_one()
        tool_retries = conn.execute(
            sa.select(sa.func.sum(tool_executions.c.attempts - 1))
        ).scalar_one()
        return {
            "stages": per_stage,
            "buckets": buckets,
            "failed": failed,
            "dead_lettered": int(dead),
            "tool_retries": int(tool_retries or 0),
        }

    return await database.transact(work)


class Telemetry:
    """The platform's spans and its metrics snapshot (a Prometheus collector)."""

    def __init__(self, repository: ExceptionRepository) -> None:
        self.repository = repository
        self.snapshot: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None

    # traces ----------------------------------------------------------------------
    @contextlib.contextmanager
    def stage_span(
        self, stage: Stage, data: EventContext, run_id: str
    ) -> Iterator[Span]:
        """A span for one stage run, child of the previous stage's."""
        parent = (
            _PROPAGATOR.extract({"traceparent": data.trace})
            if data.trace
            else otel_context.Context()
        )
        attributes = {
            "exception.id": data.exception_id,
            "exception.event_id": data.event_id,
            "tenant": data.tenant,
            "conveyor.run_id": run_id,
        }
        with tracer.start_as_current_span(
            f"exceptions.{stage.value}",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes=attributes,
        ) as span:
            yield span

    def tool_called(self, call: ToolCall, result: ToolResult, attempts: int) -> None:
        """Note a tool execution on the current span."""
        span = trace.get_current_span()
        span.add_event(
            "tool.executed",
            {
                "tool": result.tool.value,
                "position": call.position,
                "attempts": attempts,
                "replayed": result.replayed,
            },
        )

    # metrics ---------------------------------------------------------------------
    async def refresh(self) -> None:
        """Read the counts from the database now."""
        self.snapshot = await read_stats(self.repository)

    def start_refreshing(self, interval_s: float) -> None:
        """Refresh the snapshot every `interval_s` in the background."""
        if self._task is None:
            self._task = asyncio.create_task(self._refresh_loop(interval_s))

    async def stop(self) -> None:
        """Stop refreshing."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _refresh_loop(self, interval_s: float) -> None:
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the database is away: keep the last one
                log.debug("exceptions metrics: %s", exc)
            await asyncio.sleep(interval_s)

    def collector(self) -> Collector:
        """A collector serving the latest snapshot."""
        return _SnapshotCollector(self)


class _SnapshotCollector(Collector):
    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry

    def describe(self) -> Iterable[Any]:
        return []

    def collect(self) -> Iterable[Any]:
        snapshot = self.telemetry.snapshot or {
            "stages": {}, "buckets": {}, "failed": {}, "dead_lettered": 0,
            "tool_retries": 0,
        }  # fmt: skip
        processed = CounterMetricFamily(
            "exceptions_stage_processed",
            "Events each stage finished (recorded once per event).",
            labels=["stage"],
        )
        failed = CounterMetricFamily(
            "exceptions_stage_failed",
            "Events a stage failed for good (parked in the dead letters).",
            labels=["stage"],
        )
        retried = CounterMetricFamily(
            "exceptions_stage_retried",
            "Extra attempts stages needed (tool calls retried after transient "
            "errors included).",
            labels=["stage"],
        )
        latency = HistogramMetricFamily(
            "exceptions_stage_latency_seconds",
            "Time a stage took per event.",
            labels=["stage"],
        )
        for stage in Stage:
            count, total, retries = snapshot["stages"].get(stage.value, (0, 0.0, 0))
            processed.add_metric([stage.value], count)
            failed.add_metric([stage.value], snapshot["failed"].get(stage.value, 0))
            if stage is Stage.TOOL:
                retries += snapshot["tool_retries"]
            retried.add_metric([stage.value], retries)
            counts = snapshot["buckets"].get(stage.value, [0] * len(LATENCY_BUCKETS))
            buckets = [
                (str(b), c) for b, c in zip(LATENCY_BUCKETS, counts, strict=True)
            ]
            buckets.append(("+Inf", count))
            latency.add_metric([stage.value], buckets, sum_value=total)
        dead = GaugeMetricFamily(
            "exceptions_dead_letters",
            "Events parked in the dead letters, waiting for a replay.",
            value=snapshot["dead_lettered"],
        )
        return [processed, failed, retried, latency, dead]
