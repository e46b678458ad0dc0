"""Live display of a run from its event stream: a rich progress bar on a terminal,
one plain line per notable event otherwise.

The bar follows the fraction of the latest `run.progress` event when the workflow
reports one, and otherwise counts completed steps.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from ..events import Event


class RunTracker:
    """How far a run has got, folded from its events."""

    def __init__(self) -> None:
        self.fraction: float | None = None
        self.message = ""
        self.steps_done = 0
        self.ended: str | None = None

    def apply(self, event: Event) -> str | None:
        """Fold `event` in; returns a line worth telling the user, if any."""
        data = event.data
        kind = event.type
        if kind == "run.progress":
            if isinstance(data.get("fraction"), int | float):
                self.fraction = min(1.0, max(0.0, float(data["fraction"])))
            self.message = str(data.get("message") or self.message)
            return None
        if kind == "step.completed":
            self.steps_done += 1
            return None
        if kind in ("run.completed", "run.cancelled", "run.dead_lettered"):
            self.ended = kind
            if kind == "run.completed":
                self.fraction = 1.0 if self.fraction is not None else None
        return describe(event)


FIXED_LINES = {
    "run.replayed": "run replayed from the dead-letter queue",
    "run.cancel_requested": "cancel requested",
    "run.completed": "run completed",
    "run.cancelled": "run cancelled",
}


def describe(event: Event) -> str | None:
    """A one-line account of the events a person watching would care about."""
    data = event.data
    step = event.step or "?"
    kind = event.type
    if kind in FIXED_LINES:
        return FIXED_LINES[kind]
    if kind == "run.started":
        return f"run {event.run_id} started ({event.workflow})"
    if kind == "run.recovered":
        return f"run recovered after a crash ({data.get('recoveries')})"
    if kind == "step.retrying":
        return (
            f"step {step} attempt {event.attempt} failed: {_error(data)}; "
            f"retrying in {float(data.get('backoff_s') or 0):.2g} s"
        )
    if kind == "step.failed":
        return f"step {step} failed after {event.attempt} attempt(s): {_error(data)}"
    if kind == "timer.started":
        return f"sleeping {float(data.get('seconds') or 0):g} s"
    if kind == "signal.received":
        if data.get("timed_out"):
            return f"gave up waiting for signal {step}"
        return f"signal {step} received"
    if kind in ("run.failed", "run.dead_lettered"):
        return f"{kind.replace('.', ' ').replace('_', '-')}: {_error(data)}"
    return None


def _error(data: dict[str, Any]) -> str:
    error = data.get("error") or {}
    if not isinstance(error, dict):
        return str(error)
    return f"{error.get('type', 'Error')}: {error.get('message', '')}"


class PlainView:
    """One line per notable event, for logs and pipes."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.tracker = RunTracker()
        self._shown: float | None = None

    def __enter__(self) -> PlainView:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def __call__(self, event: Event) -> None:
        line = self.tracker.apply(event)
        fraction = self.tracker.fraction
        if event.type == "run.progress" and fraction is not None:
            if fraction != self._shown:
                self._shown = fraction
                self._say(f"[{fraction:4.0%}] {self.tracker.message}".rstrip())
        elif event.type == "step.completed" and self.tracker.fraction is None:
            self._say(f"step {event.step} completed ({self.tracker.steps_done} done)")
        if line is not None:
            self._say(line)

    def _say(self, line: str) -> None:
        self.console.print(escape(line), highlight=False, soft_wrap=True)


class RichView:
    """A live progress bar with the latest message, steps done and elapsed time;
    retries and failures are printed above it as they happen."""

    def __init__(self, console: Console, title: str) -> None:
        self.tracker = RunTracker()
        self.progress = Progress(
            SpinnerColumn(finished_text="•"),
            TextColumn("[bold]{task.fields[title]}"),
            BarColumn(),
            TextColumn("{task.fields[amount]:>9}"),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=console,
        )
        self.task: TaskID = self.progress.add_task(
            "submitted", total=None, title=escape(title), amount=""
        )

    def __enter__(self) -> RichView:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def __call__(self, event: Event) -> None:
        tracker = self.tracker
        line = tracker.apply(event)
        fraction = tracker.fraction
        update: dict[str, Any] = {}
        if fraction is not None:
            update.update(total=1.0, completed=fraction, amount=f"{fraction:.0%}")
        else:
            done = tracker.steps_done
            update["amount"] = f"{done} step{'' if done == 1 else 's'}"
        if event.type == "step.started" and not tracker.message:
            update["description"] = escape(f"{event.step} …")
        elif tracker.message:
            update["description"] = escape(tracker.message)
        if tracker.ended is not None:
            update["description"] = escape(tracker.ended.removeprefix("run."))
            if tracker.ended == "run.completed":
                update.update(total=1.0, completed=1.0)
        self.progress.update(self.task, **update)
        if line is not None and event.type in (
            "step.retrying",
            "step.failed",
            "run.recovered",
            "run.replayed",
        ):
            style = "yellow" if event.type != "step.failed" else "red"
            self.progress.console.print(f"[{style}]{escape(line)}[/]")


def view(console: Console, title: str) -> PlainView | RichView:
    """The right display for `console`: a bar on a terminal, lines otherwise."""
    if console.is_terminal:
        return RichView(console, title)
    return PlainView(console)
