"""The real-server launchers start, answer, restart, stop cleanly and yield to env."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import (
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client

from conveyor.testing.servers import (
    AnyPostgresServer,
    ExternalPostgresServer,
    ExternalServer,
    NatsServer,
    PostgresDatabase,
    PostgresServer,
    Server,
    ServerError,
    ServerProcess,
    ServerStartError,
    TemporalServer,
    default_base_dir,
    nats_server_from_env,
    postgres_server_from_env,
    temporal_server_from_env,
)
from conveyor.testing.servers import base as servers_base
from conveyor.testing.servers.postgres import _Account, _check_reachable


def _session_members(session_id: int) -> list[int]:
    """Live (non-zombie) processes whose session is `session_id`."""
    members = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(int(stat_file.parent.name))
    return members


def _assert_stopped_cleanly(server: ServerProcess) -> None:
    """Stop `server` and check that no process and no temp dir outlive it."""
    pid, directory = server.pid, server.data_dir
    assert pid is not None, "expected a running server before stop()"
    assert directory is not None, "expected a temp dir before stop()"
    server.stop()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    # Servers run in their own session, so any helper they forked shares its id.
    assert _session_members(pid) == [], f"processes outlived server {pid}"
    assert not directory.exists(), f"expected {directory} removed, it exists"
    assert server.pid is None, f"expected no pid after stop(), got {server.pid}"
    assert server.data_dir is None, "expected no data_dir after stop()"
    server.stop()  # a second stop is harmless


def _temp_dirs(name: str) -> set[Path]:
    return set(default_base_dir().glob(f"conveyor-{name}-*"))


@pytest.fixture(name="own_postgres")
def fixture_own_postgres() -> Iterator[PostgresServer]:
    """A private PostgreSQL server this test may restart or stop."""
    with PostgresServer() as server:
        yield server


@pytest.fixture(name="own_nats")
def fixture_own_nats() -> Iterator[NatsServer]:
    """A private NATS server this test may restart or stop."""
    with NatsServer() as server:
        yield server


async def _select_one(url: str) -> int:
    connection = await asyncpg.connect(url)
    try:
        return int(await connection.fetchval("select 1"))
    finally:
        await connection.close()


async def test_postgres_answers_select_one(postgres_server: AnyPostgresServer) -> None:
    """The session PostgreSQL server answers `select 1` over TCP."""
    assert await _select_one(postgres_server.url) == 1


async def test_postgres_database_is_fresh(
    postgres_server: AnyPostgresServer, postgres_database: PostgresDatabase
) -> None:
    """`postgres_database` is a new empty database that its URL connects to."""
    connection = await asyncpg.connect(postgres_database.url)
    try:
        name = await connection.fetchval("select current_database()")
        tables = await connection.fetchval(
            "select count(*) from information_schema.tables"
            " where table_schema = 'public'"
        )
    finally:
        await connection.close()
    assert name == postgres_database.name, f"connected to {name!r}"
    assert tables == 0, f"expected an empty database, found {tables} tables"


async def test_postgres_database_from_template_and_drop(
    postgres_server: AnyPostgresServer,
) -> None:
    """A database cloned from a template has its tables; dropping removes it."""
    suffix = uuid.uuid4().hex[:8]
    template = postgres_server.create_database(f"tpl_{suffix}")
    postgres_server.sql("create table migrated (id int)", database=template.name)
    clone = postgres_server.create_database(f"clone_{suffix}", template=template.name)
    try:
        connection = await asyncpg.connect(clone.url)
        try:
            rows = await connection.fetch("select * from migrated")
        finally:
            await connection.close()
        assert rows == [], f"expected the template's empty table, got {rows}"
    finally:
        postgres_server.drop_database(clone.name)
        postgres_server.drop_database(template.name)
    names = postgres_server.sql("select datname from pg_database").split()
    assert clone.name not in names, f"expected {clone.name} dropped, have {names}"


async def test_postgres_restart_keeps_port_and_rows(
    own_postgres: PostgresServer,
) -> None:
    """After `restart()` the server has the same URL and a committed row survives."""
    url, old_pid = own_postgres.url, own_postgres.pid
    connection = await asyncpg.connect(url)
    await connection.execute(
        "create table kept (v text); insert into kept values ('x')"
    )
    await connection.close()
    own_postgres.restart()
    assert own_postgres.url == url, f"expected {url}, got {own_postgres.url}"
    assert own_postgres.pid != old_pid, "expected a new process after restart"
    connection = await asyncpg.connect(url)
    try:
        value = await connection.fetchval("select v from kept")
    finally:
        await connection.close()
    assert value == "x", f"expected the row to survive restart, got {value!r}"


async def test_durable_postgres_survives_a_crash() -> None:
    """A durable server killed with SIGKILL restarts with its committed rows."""
    with PostgresServer(durable=True) as server:
        connection = await asyncpg.connect(server.url)
        await connection.execute(
            "create table kept (v int); insert into kept values (7)"
        )
        await connection.close()
        server.kill()
        assert server.pid is None, "expected no process after kill()"
        server.restart()
        connection = await asyncpg.connect(server.url)
        try:
            value = await connection.fetchval("select v from kept")
        finally:
            await connection.close()
        assert value == 7, f"expected the committed row after a crash, got {value!r}"


def test_postgres_stop_leaves_nothing(own_postgres: PostgresServer) -> None:
    """Stopping PostgreSQL ends its process tree and removes its temp dir."""
    _assert_stopped_cleanly(own_postgres)


def test_postgres_retries_a_lost_port_race(monkeypatch: pytest.MonkeyPatch) -> None:
    """If another process takes the picked port first, start retries on another."""
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        real_free_port = servers_base.free_port
        monkeypatch.setattr(
            servers_base, "free_port", lambda: next(ports, None) or real_free_port()
        )
        with PostgresServer() as server:
            assert server.port != taken, "expected a port other than the taken one"
            assert "already in use" in server.log_path.read_text()


def test_postgres_start_failure_is_explained_and_cleaned_up() -> None:
    """A server that cannot start raises with its log tail and leaves no dir."""
    before = _temp_dirs("postgres")
    server = PostgresServer(settings={"shared_buffers": "plenty"})
    with pytest.raises(ServerStartError, match="shared_buffers") as caught:
        server.start()
    assert "exited with code" in str(caught.value), str(caught.value)
    assert _temp_dirs("postgres") == before, "expected the temp dir removed"
    assert server.pid is None, "expected no process after a failed start"


def test_unreachable_bin_dir_is_explained() -> None:
    """A bin dir the unprivileged user cannot enter raises an actionable error."""
    stranger = _Account(name="stranger", uid=os.getuid() + 4242, gid=4242)
    with tempfile.TemporaryDirectory() as outer:
        Path(outer).chmod(0o755)  # mkdtemp makes 0700; only `locked` should block
        locked = Path(outer) / "locked"
        bin_dir = locked / "bin"
        bin_dir.mkdir(parents=True)
        locked.chmod(0o700)
        expected = rf"cannot enter {re.escape(str(locked))} .*chmod o\+x"
        with pytest.raises(ServerError, match=expected):
            _check_reachable(bin_dir, stranger)


_RUNNER = """
import sys
from conveyor.testing.servers import NatsServer, PostgresServer
server = {cls}()
server.start()
print(server.pid, server.data_dir, flush=True)
sys.stdin.read()
"""


def _wait_gone(pid: int, timeout_s: float) -> bool:
    """Wait until `pid` has exited (a zombie awaiting its new parent counts)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("cls", ["NatsServer", "PostgresServer"])
def test_server_dies_with_a_killed_runner(cls: str) -> None:
    """SIGKILLing the process that started a server takes the server down too."""
    runner = subprocess.Popen(
        [sys.executable, "-c", _RUNNER.format(cls=cls)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert runner.stdout is not None
    line = runner.stdout.readline()
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    runner.stdout.close()
    assert runner.stdin is not None
    runner.stdin.close()
    pid_text, _, directory = line.strip().partition(" ")
    assert pid_text.isdigit(), f"runner did not report a server: {line!r}"
    try:
        assert _wait_gone(int(pid_text), 10), f"{cls} {pid_text} outlived its runner"
        assert _session_members(int(pid_text)) == [], "server helpers outlived it"
    finally:
        shutil.rmtree(directory, ignore_errors=True)  # the killed runner could not


async def test_nats_jetstream_publishes_and_acks(
    nats_server: NatsServer | ExternalServer,
) -> None:
    """The session NATS server stores a JetStream message and takes its ack."""
    stream = f"T{uuid.uuid4().hex[:12]}"
    client = await nats.connect(nats_server.url)
    try:
        jetstream = client.jetstream()
        await jetstream.add_stream(name=stream, subjects=[f"{stream}.>"])
        ack = await jetstream.publish(f"{stream}.a", b"hello")
        assert (ack.stream, ack.seq) == (stream, 1), f"unexpected ack {ack}"
        subscription = await jetstream.pull_subscribe(f"{stream}.a", durable="d")
        [message] = await subscription.fetch(1, timeout=5)
        await message.ack_sync()
        assert message.data == b"hello", f"expected b'hello', got {message.data!r}"
        await jetstream.delete_stream(stream)
    finally:
        await client.close()


async def test_nats_restart_keeps_port_and_messages(own_nats: NatsServer) -> None:
    """After `restart()` NATS has the same URL and the stored message survives."""
    url = own_nats.url
    client = await nats.connect(url)
    await client.jetstream().add_stream(name="KEPT", subjects=["kept"])
    await client.jetstream().publish("kept", b"survivor")
    await client.close()
    own_nats.restart()
    assert own_nats.url == url, f"expected {url}, got {own_nats.url}"
    client = await nats.connect(url)
    try:
        message = await client.jetstream().get_msg("KEPT", 1)
    finally:
        await client.close()
    assert message.data == b"survivor", f"expected the message, got {message.data!r}"


def test_nats_stop_leaves_nothing(own_nats: NatsServer) -> None:
    """Stopping NATS ends its process and removes its temp dir."""
    _assert_stopped_cleanly(own_nats)


async def test_temporal_answers(
    temporal_server: TemporalServer | ExternalServer,
) -> None:
    """A Temporal client connects to the session server and finds it healthy."""
    client = await Client.connect(temporal_server.url)
    assert await client.service_client.check_health(), "expected SERVING"


async def test_temporal_persistent_restart_keeps_port_and_namespaces() -> None:
    """A persistent Temporal server keeps its port and namespaces over restart."""
    with TemporalServer(persistent=True) as server:
        url = server.url
        client = await Client.connect(url)
        await client.workflow_service.register_namespace(
            RegisterNamespaceRequest(
                namespace="kept",
                workflow_execution_retention_period=Duration(seconds=86400),
            )
        )
        server.restart()
        assert server.url == url, f"expected {url}, got {server.url}"
        client = await Client.connect(url)
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="kept")
        )
        assert described.namespace_info.name == "kept", str(described)
        _assert_stopped_cleanly(server)


@pytest.mark.parametrize(
    ("variable", "factory", "value"),
    [
        ("NATS_URL", nats_server_from_env, "nats://127.0.0.1:4999"),
        ("TEMPORAL_ADDRESS", temporal_server_from_env, "127.0.0.1:7999"),
    ],
)
def test_env_variable_names_an_external_server(
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    factory: Callable[[], Server],
    value: str,
) -> None:
    """A set variable yields an external server that starts and stops nothing."""
    monkeypatch.setenv(variable, value)
    with factory() as server:
        assert isinstance(server, ExternalServer), f"got {server!r}"
        assert (server.url, server.pid, server.data_dir) == (value, None, None)
    with pytest.raises(ServerError, match="external"):
        server.restart()


@pytest.mark.parametrize("variable", ["NATS_URL", "TEMPORAL_ADDRESS", "DATABASE_URL"])
def test_empty_env_variable_means_start_our_own(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """An empty override variable is ignored and a local server is chosen."""
    monkeypatch.setenv(variable, "")
    factory = {
        "NATS_URL": nats_server_from_env,
        "TEMPORAL_ADDRESS": temporal_server_from_env,
        "DATABASE_URL": postgres_server_from_env,
    }[variable]
    assert isinstance(factory(), ServerProcess)


async def test_database_url_is_honoured(
    postgres_server: AnyPostgresServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`DATABASE_URL` (even with a SQLAlchemy driver) selects that server."""
    driver_url = postgres_server.url.replace("postgresql://", "postgresql+asyncpg://")
    monkeypatch.setenv("DATABASE_URL", driver_url)
    with postgres_server_from_env() as server:
        assert isinstance(server, ExternalPostgresServer), f"got {server!r}"
        assert server.url == postgres_server.url, server.url
        database = server.create_database(f"env_{uuid.uuid4().hex[:8]}")
        try:
            assert await _select_one(database.url) == 1
        finally:
            server.drop_database(database.name)
