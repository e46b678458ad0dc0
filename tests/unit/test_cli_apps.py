"""`--app module:attr` loading and mounting the examples next to a user's app."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from conveyor.cli.apps import build_app, load_app
from conveyor.examples import EXAMPLE_WORKFLOWS

USER_APP = """
from conveyor import Conveyor
from conveyor.workflows import workflow


@workflow
async def hello(run, input):
    return "mine"


@workflow
async def report(run, input):
    return "report"


app = Conveyor(store_url="sqlite:///{db}", workflows=[hello, report])


def make_app():
    return app


not_an_app = 42
"""


@pytest.fixture(name="user_module")
def user_module_fixture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A module defining a user's app, importable from the current directory."""
    name = f"user_app_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{name}.py").write_text(USER_APP.format(db=tmp_path / "u.db"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def test_instance_and_factory_load_the_same_app(user_module: str) -> None:
    """`module:attr` may name a Conveyor or a zero-argument factory returning one."""
    instance = load_app(f"{user_module}:app")
    assert load_app(f"{user_module}:make_app") is instance, "factory should be called"


@pytest.mark.parametrize(
    ("suffix", "problem"),
    [
        (":not_an_app", "not a Conveyor"),
        (":missing", "has no attribute"),
        ("", "module:attribute"),
    ],
)
def test_bad_references_are_usage_errors(
    user_module: str, suffix: str, problem: str
) -> None:
    """A reference that is malformed or names something else is a usage error."""
    with pytest.raises(typer.BadParameter, match=problem):
        load_app(f"{user_module}{suffix}")


def test_unimportable_module_is_a_usage_error() -> None:
    """A module that cannot be imported is a usage error naming it."""
    with pytest.raises(typer.BadParameter, match="no_such_module_xyz"):
        load_app("no_such_module_xyz:app")


def test_examples_join_a_user_app_without_replacing_its_workflows(
    user_module: str,
) -> None:
    """The examples are added to a user's app, but its own `hello` wins."""
    app = build_app(f"{user_module}:app", examples=True)
    assert app.workflows["hello"].fn.__module__ == user_module, "user's hello lost"
    for example in EXAMPLE_WORKFLOWS:
        assert example.name in app.workflows, f"{example.name} not mounted"
    assert "report" in app.workflows, "the user's own workflows stay"
