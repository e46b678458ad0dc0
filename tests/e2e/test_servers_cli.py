"""`conveyor servers up|status|down`: PostgreSQL and NATS for local development,
left running by `up` and stopped by pid by `down`."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from e2e_support import cli_env, run_cli

from conveyor.cli.exits import ExitCode
from conveyor.testing.servers import default_base_dir

pytestmark = pytest.mark.slow


@pytest.fixture(name="workdir")
def fixture_workdir() -> Iterator[Path]:
    """A folder PostgreSQL's unprivileged user can enter (pytest's tmp_path is
    private to root); whatever `up` left running is stopped afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="conveyor-servers-", dir=default_base_dir()))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        run_cli(("servers", "down", "--dir", "state"), folder, cli_env(folder))
        shutil.rmtree(folder, ignore_errors=True)


async def answers(env: dict[str, str]) -> None:
    """Both servers take a client: a query on the store database, a NATS flush."""
    conn = await asyncpg.connect(env["CONVEYOR_STORE_URL"])
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
    client = await nats.connect(env["CONVEYOR_BUS_URL"])
    try:
        await client.flush(timeout=5)
    finally:
        await client.close()


def test_servers_up_status_down(workdir: Path) -> None:
    """`up` leaves both servers running after it exits and prints the variables to
    export; `status` finds them answering; `down` stops them and removes their
    data, after which `status` exits 5."""
    env = cli_env(workdir)
    started = run_cli(("servers", "up", "--dir", "state"), workdir, env)
    assert started.code == ExitCode.OK, started.stderr
    exported = dict(
        line.removeprefix("export ").split("=", 1)
        for line in started.stdout.splitlines()
    )
    expected = {"CONVEYOR_STORE_URL", "CONVEYOR_BUS_URL", "DATABASE_URL", "NATS_URL"}
    assert set(exported) == expected, f"expected {expected}, got {started.stdout}"
    asyncio.run(answers(exported))

    status = run_cli(("servers", "status", "--dir", "state", "--json"), workdir, env)
    assert status.code == ExitCode.OK, status.stderr
    recorded = status.json()
    assert {name: s["up"] for name, s in recorded.items()} == {
        "postgres": True,
        "nats": True,
    }, f"expected both up, got {recorded}"
    state = json.loads((workdir / "state" / "servers.json").read_text())

    stopped = run_cli(("servers", "down", "--dir", "state"), workdir, env)
    assert stopped.code == ExitCode.OK, stopped.stderr
    assert "stopped postgres, nats" in stopped.stderr, stopped.stderr
    left = [s["dir"] for s in state.values() if Path(s["dir"]).exists()]
    assert left == [], f"expected the servers' data removed, found {left}"
    after = run_cli(("servers", "status", "--dir", "state"), workdir, env)
    assert after.code == ExitCode.UNAVAILABLE, f"expected 5, got {after}"
