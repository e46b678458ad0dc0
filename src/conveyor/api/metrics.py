"""Prometheus metrics, in a registry of the app's own (two apps in one process never
collide): runs and steps counted from the bus's events, HTTP requests by route and
status, and run durations."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..events import Event, EventType
from .deps import State

logger = logging.getLogger("conveyor.api")

RUN_EVENTS = {
    EventType.RUN_STARTED.value: "started",
    EventType.RUN_COMPLETED.value: "completed",
    EventType.RUN_FAILED.value: "failed",
    EventType.RUN_CANCELLED.value: "cancelled",
    EventType.RUN_DEAD_LETTERED.value: "dead_lettered",
}
STEP_EVENTS = {
    EventType.STEP_COMPLETED.value: "completed",
    EventType.STEP_RETRYING.value: "retried",
    EventType.STEP_FAILED.value: "failed",
}
RUN_ENDS = frozenset(
    {
        EventType.RUN_COMPLETED.value,
        EventType.RUN_FAILED.value,
        EventType.RUN_CANCELLED.value,
    }
)
MAX_TRACKED_RUNS = 100_000


class Metrics:
    """The app's collectors and the bus listener that feeds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.runs = Counter(
            "conveyor_runs",
            "Runs by what happened to them (started, completed, failed, ...).",
            ["workflow", "event"],
            registry=self.registry,
        )
        self.steps = Counter(
            "conveyor_steps",
            "Step attempts by outcome (completed, retried, failed).",
            ["workflow", "outcome"],
            registry=self.registry,
        )
        self.run_seconds = Histogram(
            "conveyor_run_duration_seconds",
            "Time from a run's start to its end, for runs started in this process.",
            ["workflow"],
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800, 3600),
        )
        self.requests = Counter(
            "conveyor_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "conveyor_http_request_duration_seconds",
            "Time to answer HTTP requests (streams: until they end).",
            ["route", "method"],
            registry=self.registry,
        )
        self.streams = Gauge(
            "conveyor_streams_open",
            "Event streams being served, by kind (sse, ws, session_ws).",
            ["kind"],
            registry=self.registry,
        )
        self.slow_consumers = Counter(
            "conveyor_stream_slow_consumers",
            "Stream clients disconnected because they stopped reading.",
            ["kind"],
            registry=self.registry,
        )
        self._started: dict[str, float] = {}

    def observe_event(self, event: Event) -> None:
        """Bus listener: count the event. Never raises (it runs inside publish)."""
        try:
            self._count(event)
        except Exception:  # a metrics bug must not break event delivery
            logger.exception("metrics listener failed on %s", event.type)

    def _count(self, event: Event) -> None:
        outcome = RUN_EVENTS.get(event.type)
        if outcome is not None:
            self.runs.labels(event.workflow, outcome).inc()
        step = STEP_EVENTS.get(event.type)
        if step is not None:
            self.steps.labels(event.workflow, step).inc()
        if event.type == EventType.RUN_STARTED.value:
            if len(self._started) < MAX_TRACKED_RUNS:
                self._started[event.run_id] = event.timestamp
        elif event.type in RUN_ENDS:
            began = self._started.pop(event.run_id, None)
            if began is not None:
                duration = max(0.0, event.timestamp - began)
                self.run_seconds.labels(event.workflow).observe(duration)

    def render(self) -> bytes:
        """The exposition text."""
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts each HTTP request under its route template (never the raw path, which
    would make one time series per run id)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        began = time.perf_counter()

        async def watching_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        finally:
            route = scope.get("route")
            template = (
                route.path
                if isinstance(route, BaseRoute) and hasattr(route, "path")
                else "unmatched"
            )
            method = scope.get("method", "")
            self.metrics.requests.labels(template, method, str(status)).inc()
            self.metrics.request_seconds.labels(template, method).observe(
                time.perf_counter() - began
            )


router = APIRouter(tags=["operations"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    summary="Prometheus metrics",
)
async def metrics(state: State) -> Response:
    """Counters and histograms in the Prometheus text format."""
    return Response(state.metrics.render(), media_type=CONTENT_TYPE_LATEST)
