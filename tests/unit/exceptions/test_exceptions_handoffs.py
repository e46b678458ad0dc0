"""The pieces the stages share: stage keys and lanes, exception ids, where the
platform's tables live, and the status moves the repository takes in one step."""

from __future__ import annotations

from conveyor_apps.exceptions import ExceptionStatus, can_transition
from conveyor_apps.exceptions.config import ExceptionsSettings
from conveyor_apps.exceptions.handoffs import Stage
from conveyor_apps.exceptions.platform import exception_id_for
from conveyor_apps.exceptions.repository import _SOURCES


def test_exceptions_stage_keys_and_lanes() -> None:
    """Without lanes a stage's key is the exception's own; with lanes an
    exception always falls in the same one of that many keys per stage."""
    assert Stage.TRIAGE.key("ex_1") == "ex_1:triage"
    assert Stage.TRIAGE.workflow == "exceptions.triage"
    lanes = {Stage.TOOL.key(f"ex_{n}", 3) for n in range(50)}
    assert lanes == {"tool:lane0", "tool:lane1", "tool:lane2"}, lanes
    assert Stage.TOOL.key("ex_7", 3) == Stage.TOOL.key("ex_7", 3)


def test_exceptions_ids_are_per_tenant_and_key() -> None:
    """The same dedupe key names the same exception for a tenant, another for
    another tenant."""
    first = exception_id_for("acme", "k1")
    assert first == exception_id_for("acme", "k1") and first.startswith("ex_")
    assert first != exception_id_for("globex", "k1")
    assert first != exception_id_for("acme", "k2")


def test_exceptions_database_beside_the_store() -> None:
    """The tables share the engine's PostgreSQL database, sit in a file of their
    own beside a SQLite store, or wherever `database_url` says."""
    settings = ExceptionsSettings()
    pg = "postgresql://u@h/db"
    assert settings.database_for(pg) == pg
    assert settings.database_for("sqlite:///data/c.db?synchronous=NORMAL") == (
        "sqlite:///data/c-exceptions.db"
    )
    assert settings.database_for("sqlite:////abs/conveyor.db") == (
        "sqlite:////abs/conveyor-exceptions.db"
    )
    own = ExceptionsSettings(database_url="sqlite:///x.db")
    assert own.database_for(pg) == "sqlite:///x.db"


def test_exceptions_one_step_moves_follow_the_state_machine() -> None:
    """The statuses an event moves from in one statement are exactly the legal
    sources of each target (and the target itself, a repeated move), never the
    dead letters (a replay takes the long way, through where it failed)."""
    for target in ExceptionStatus:
        expected = {target.value} | {
            s.value
            for s in ExceptionStatus
            if can_transition(s, target) and s is not ExceptionStatus.DEAD_LETTERED
        }
        assert set(_SOURCES[target]) == expected, f"{target}: {_SOURCES[target]}"
