"""How `conveyor season plan` shows a plan: live per-agent progress from the stream's
messages (a rich display on a terminal, plain lines otherwise) and the finished
plan as a short summary with a sparkline of the weekly curve."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn

from conveyor.cli.common import out, print_fields

from .agents import AGENT_NAMES
from .handoffs import SeasonPlan

SPARKS = "▁▂▃▄▅▆▇█"
MARKS = {"started": "→", "completed": "✓", "retrying": "↻", "failed": "✗"}


class PlanView:
    """Shows the messages of one run as they arrive.

    Args:
        console: where progress goes (stderr, so stdout keeps only the plan).
        quiet: show nothing (`--json`).
    """

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = Progress(
            SpinnerColumn(finished_text="[green]✓[/]"),
            TextColumn("[bold]{task.fields[name]:<10}"),
            BarColumn(bar_width=24),
            TextColumn("{task.description}"),
            console=console,
        )
        self.overall: TaskID = self.progress.add_task(
            "starting", total=1.0, name="plan"
        )
        self.agents: dict[str, TaskID] = {
            name: self.progress.add_task("waiting", total=1.0, name=name)
            for name in AGENT_NAMES
        }

    def __enter__(self) -> PlanView:
        if self.live:
            self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.live:
            self.progress.stop()

    def show(self, message: dict[str, Any], run_id: str) -> bool:
        """Show `message` if it is about `run_id`; True once the run has ended."""
        if message.get("run_id") != run_id:
            return False
        kind = message.get("type")
        if not self.quiet:
            if self.live:
                self._update(message)
            else:
                self._say(message)
        return kind in ("complete", "error")

    def _update(self, message: dict[str, Any]) -> None:
        kind, agent = message["type"], message.get("agent")
        task = self.agents.get(agent) if isinstance(agent, str) else None
        if kind == "agent_status" and task is not None:
            status = str(message.get("status"))
            error = message.get("error") or {}
            detail = f": {error.get('message', '')}" if error else ""
            self.progress.update(
                task,
                completed=1.0 if status == "completed" else 0.0,
                description=escape(f"{status}{detail}"),
            )
        elif kind == "progress" and task is not None:
            fraction = message.get("progress")
            self.progress.update(
                task,
                completed=fraction if isinstance(fraction, float | int) else 0.0,
                description=escape(str(message.get("message", ""))),
            )
        elif kind == "progress":
            fraction = message.get("progress")
            if isinstance(fraction, float | int):
                self.progress.update(self.overall, completed=fraction)
            self.progress.update(
                self.overall, description=escape(str(message.get("message", "")))
            )
        elif kind in ("complete", "error"):
            done = "plan ready" if kind == "complete" else "[red]failed[/]"
            self.progress.update(self.overall, completed=1.0, description=done)

    def _say(self, message: dict[str, Any]) -> None:
        line = describe(message)
        if line is not None:
            self.console.print(line, markup=False, highlight=False, soft_wrap=True)


def describe(message: dict[str, Any]) -> str | None:
    """One line for a stream message, or None for those not worth a line."""
    kind, agent = message.get("type"), message.get("agent")
    if kind == "agent_status":
        status = str(message.get("status"))
        error = message.get("error") or {}
        reason = f": {error.get('type')}: {error.get('message')}" if error else ""
        return f"{MARKS.get(status, '·')} {agent} {status}{reason}"
    if kind == "progress":
        text = str(message.get("message", ""))
        if agent:
            return f"  {agent}: {text}"
        fraction = message.get("progress")
        shown = f"{fraction:4.0%}" if isinstance(fraction, float | int) else "   ?"
        return f"[{shown}] {text}"
    if kind == "complete":
        return "plan ready"
    if kind == "error":
        error = message.get("error") or {}
        return f"✗ plan failed: {error.get('type')}: {error.get('message')}"
    return None


def sparkline(values: list[int]) -> str:
    """`values` as block characters, lowest to highest."""
    if not values:
        return ""
    low, high = min(values), max(values)
    span = high - low or 1
    return "".join(SPARKS[(v - low) * (len(SPARKS) - 1) // span] for v in values)


def plan_summary(plan: SeasonPlan) -> None:
    """Print the plan's key figures on stdout."""
    params, forecast, inventory = plan.parameters, plan.forecast, plan.inventory
    curve = [point.units for point in forecast.weekly_curve]
    clusters = " · ".join(
        f"{name} {units:,}" for name, units in inventory.cluster_allocations.items()
    )
    out.print(f"Season plan for {plan.category_id} (run {plan.run_id})")
    print_fields(
        [
            (
                "season",
                f"{params.season_start_date} → {params.season_end_date}, "
                f"{params.forecast_horizon_weeks} weeks",
            ),
            (
                "replenishment",
                f"{params.replenishment_strategy} (safety stock "
                f"×{forecast.safety_stock_multiplier})",
            ),
            ("forecast", f"{forecast.total_units:,} units"),
            ("weekly curve", sparkline(curve)),
            ("manufacture", f"{inventory.manufacturing_qty:,} units"),
            (
                "DC holdback",
                f"{inventory.dc_holdback_qty:,} units "
                f"({params.dc_holdback_percentage:.0%})",
            ),
            ("to stores now", f"{inventory.initial_allocation_qty:,} units"),
            ("by cluster", clusters),
        ]
    )
