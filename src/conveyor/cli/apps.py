"""Which `Conveyor` app a command runs: the examples, a user's app named by
`--app module:attr` (an instance or a zero-argument factory), or both."""

from __future__ import annotations

import importlib
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from ..app import Conveyor

AppOption = Annotated[
    str | None,
    typer.Option(
        "--app",
        help=(
            "Your app as module:attribute — a Conveyor instance, or a function "
            "taking no arguments that returns one. Imported from the current "
            "directory."
        ),
        show_default=False,
    ),
]
NoExamplesOption = Annotated[
    bool,
    typer.Option(
        "--no-examples",
        help="Don't add the example workflows (hello, pipeline, approval, flaky, "
        "always_fails).",
    ),
]


def build_app(app_ref: str | None, *, examples: bool) -> Conveyor:
    """The app for `--app` (or the example app), with the examples added unless
    `examples` is False; settings come from `CONVEYOR_*` variables."""
    # The engine (SQLAlchemy and all) loads only for commands that run workflows.
    from ..app import Conveyor
    from ..examples import example_app, mount_examples
    from ..settings import Settings

    if app_ref is None:
        if examples:
            return example_app(Settings())
        return Conveyor(settings=Settings())
    app = load_app(app_ref)
    if examples:
        mount_examples(app)
    return app


def load_app(ref: str) -> Conveyor:
    """Import `module:attribute` and return the `Conveyor` it names or makes.

    Raises:
        typer.BadParameter: the reference is malformed, cannot be imported, or does
            not name a Conveyor.
    """
    module_name, _, attribute = ref.partition(":")
    if not module_name or not attribute:
        raise typer.BadParameter(
            f"{ref!r} should look like module:attribute", param_hint="--app"
        )
    from ..app import Conveyor

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise typer.BadParameter(
            f"cannot import {module_name!r}: {exc}", param_hint="--app"
        ) from exc
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise typer.BadParameter(
                f"{module_name!r} has no attribute {attribute!r}", param_hint="--app"
            ) from None
    if not isinstance(target, Conveyor) and callable(target):
        target = target()
    if not isinstance(target, Conveyor):
        raise typer.BadParameter(
            f"{ref} is a {type(target).__name__}, not a Conveyor app (or a function "
            "returning one)",
            param_hint="--app",
        )
    return target
