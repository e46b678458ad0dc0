"""The CLI's pure parts: how events become progress, how outcomes become exit codes,
and how `--input` is read."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.console import Console

from conveyor.cli.common import parse_input
from conveyor.cli.exits import EPILOG, ExitCode, for_status
from conveyor.cli.render import PlainView, RichView, RunTracker, describe, view
from conveyor.events import Event


def make_event(seq: int, type_: str, **fields: Any) -> Event:
    return Event(
        run_id="r1",
        seq=seq,
        type=type_,
        timestamp=0.0,
        tenant="default",
        workflow="demo",
        step=fields.pop("step", None),
        attempt=fields.pop("attempt", None),
        data=fields,
    )


def test_tracker_prefers_reported_fraction_over_step_count() -> None:
    """Run-level progress sets the fraction (clamped to 0..1); completed steps are
    counted either way; the terminal event is remembered."""
    tracker = RunTracker()
    tracker.apply(make_event(1, "step.completed", step="a"))
    assert (tracker.fraction, tracker.steps_done) == (None, 1)
    tracker.apply(make_event(2, "run.progress", fraction=1.7, message="almost"))
    assert (tracker.fraction, tracker.message) == (1.0, "almost")
    tracker.apply(make_event(3, "run.completed"))
    assert tracker.ended == "run.completed", f"got {tracker.ended}"


def test_describe_says_what_matters() -> None:
    """Retries, failures and dead letters get a line naming step and error;
    routine events get none."""
    error = {"type": "Boom", "message": "bad"}
    retry = make_event(
        1, "step.retrying", step="s", attempt=1, error=error, backoff_s=0.5
    )
    assert describe(retry) == "step s attempt 1 failed: Boom: bad; retrying in 0.5 s"
    dead = make_event(2, "run.dead_lettered", error=error)
    assert describe(dead) == "run dead-lettered: Boom: bad"
    assert describe(make_event(3, "step.started", step="s")) is None


def test_plain_view_prints_progress_and_notable_lines() -> None:
    """Without a terminal each new percentage and each notable event is one line."""
    sink = io.StringIO()
    console = Console(file=sink, width=200)
    events = [
        make_event(1, "run.started"),
        make_event(2, "run.progress", fraction=0.5, message="half"),
        make_event(3, "run.progress", fraction=0.5, message="half"),
        make_event(4, "run.completed"),
    ]
    with view(console, "demo") as display:
        assert isinstance(display, PlainView), "expected plain output off a terminal"
        for event in events:
            display(event)
    assert sink.getvalue().splitlines() == [
        "run r1 started (demo)",
        "[ 50%] half",
        "run completed",
    ]


def test_rich_view_renders_on_a_terminal() -> None:
    """On a terminal the bar is used and ends at 100% with the retry shown."""
    sink = io.StringIO()
    console = Console(file=sink, width=120, force_terminal=True, color_system=None)
    with view(console, "demo") as display:
        assert isinstance(display, RichView), "expected the bar on a terminal"
        display(make_event(1, "step.retrying", step="s", attempt=1, backoff_s=0.1))
        display(make_event(2, "run.progress", fraction=0.4, message="working"))
        display(make_event(3, "run.completed"))
    text = sink.getvalue()
    assert "step s attempt 1 failed" in text, text
    assert "100%" in text, text


@pytest.mark.parametrize(
    ("status", "code"),
    [
        ("completed", ExitCode.OK),
        ("dead", ExitCode.RUN_FAILED),
        ("failed", ExitCode.RUN_FAILED),
        ("cancelled", ExitCode.RUN_CANCELLED),
        ("running", ExitCode.OK),
    ],
)
def test_exit_code_follows_run_status(status: str, code: ExitCode) -> None:
    """Each final run status maps to its documented exit code."""
    assert for_status(status) is code, f"{status} should exit {int(code)}"


def test_epilog_lists_every_exit_code() -> None:
    """The --help epilog documents every exit code."""
    for code in ExitCode:
        assert f"**{int(code)}**" in EPILOG, f"{code!r} missing from the epilog"


def test_input_from_text_file_and_default(tmp_path: Path) -> None:
    """`--input` takes JSON text or @file; no input means {}; bad JSON is a usage
    error naming its source."""
    source = tmp_path / "input.json"
    source.write_text('{"name": "file"}')
    assert parse_input('{"a": 1}') == {"a": 1}
    assert parse_input(f"@{source}") == {"name": "file"}
    assert parse_input(None) == {}
    source.write_text("{oops")
    with pytest.raises(typer.BadParameter, match=r"input\.json is not valid JSON"):
        parse_input(f"@{source}")
    with pytest.raises(typer.BadParameter, match="cannot read"):
        parse_input(f"@{tmp_path / 'missing.json'}")
