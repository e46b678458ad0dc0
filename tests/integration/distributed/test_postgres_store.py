"""`PostgresStore`: the store contract, plus what only a server can show —
restarts, dropped connections and the outbox written with the run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator

import asyncpg
import pytest

from conveyor.errors import StoreError
from conveyor.events import Event
from conveyor.runs import RunRecord, RunStatus
from conveyor.store.postgres import PostgresStore
from conveyor.testing import StoreConformance, wait_until
from conveyor.testing.conformance import StoreFactory
from conveyor.testing.servers import PostgresDatabase, PostgresServer, free_port


class TestPostgresStore(StoreConformance):
    """`PostgresStore` keeps the `Store` contract."""

    @pytest.fixture
    def store_factory(self, conveyor_database: PostgresDatabase) -> StoreFactory:
        """New PostgresStore instances over one fresh database."""
        return lambda: PostgresStore(conveyor_database.url)


class TestPostgresStoreUnprepared(StoreConformance):
    """With `prepared_statements=false` (behind a transaction-mode pooler that
    does not track them), `PostgresStore` keeps the same contract."""

    @pytest.fixture
    def store_factory(self, conveyor_database: PostgresDatabase) -> StoreFactory:
        """New PostgresStore instances preparing nothing across transactions."""
        return lambda: PostgresStore(conveyor_database.url, prepared_statements=False)


@pytest.fixture(name="own_postgres", scope="module")
def fixture_own_postgres() -> Iterator[PostgresServer]:
    """A server of our own, which these tests restart and kill."""
    with PostgresServer(durable=True) as server:
        yield server


def new_run(run_id: str, idempotency_key: str | None = None) -> tuple[RunRecord, Event]:
    run = RunRecord(
        id=run_id, workflow="wf", tenant="t", status=RunStatus.PENDING, input=None,
        created_at=1.0, updated_at=1.0, key="k", idempotency_key=idempotency_key,
    )  # fmt: skip
    first = Event(run_id, 1, "run.submitted", 1.0, "t", "wf")
    return run, first


async def test_store_survives_server_restart(own_postgres: PostgresServer) -> None:
    """After the server restarts, pooled connections are replaced and the next
    operations succeed, including one issued while the server is down."""
    database = own_postgres.create_database(f"restart_{uuid.uuid4().hex[:8]}")
    store = PostgresStore(database.url, pool_size=2, retry_s=30)
    await store.open()
    try:
        await store.create_run(*new_run("before"))
        own_postgres.kill()  # pooled connections die with it
        waiting = asyncio.ensure_future(store.get_run("before"))
        await asyncio.sleep(0.3)
        assert not waiting.done(), "a read while the server is down must wait"
        own_postgres.restart()  # from the main thread (blocks the loop a moment)
        assert (await waiting).id == "before"
        await store.create_run(*new_run("after"))
        assert [r.id for r in await store.unfinished_runs()] == ["before", "after"]
    finally:
        await store.aclose()


async def test_unreachable_server_fails_with_store_error() -> None:
    """A server that never answers fails operations with StoreError in time."""
    store = PostgresStore(
        f"postgresql://nobody@127.0.0.1:{free_port()}/none", retry_s=0.5, migrate=False
    )
    await store.open()
    try:
        with pytest.raises(StoreError, match="PostgreSQL"):
            await store.get_run("x")
    finally:
        await store.aclose()


async def test_pool_limit_queues_work(conveyor_database: PostgresDatabase) -> None:
    """With two connections at most, fifty concurrent operations all complete."""
    store = PostgresStore(conveyor_database.url, pool_size=2, max_overflow=0)
    await store.open()
    try:
        await asyncio.gather(*(store.create_run(*new_run(f"r{n}")) for n in range(50)))
        assert len(await store.unfinished_runs()) == 50
        pool = store.pool
        assert pool is not None and pool.get_idle_size() == pool.get_size(), "returned"
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("prepared", "plans", "mode"),
    [
        (True, "force_custom_plan", "force_custom_plan"),
        (True, None, "auto"),
        (False, "force_custom_plan", "auto"),
    ],
)
async def test_kept_statements_are_planned_for_their_parameters(
    conveyor_database: PostgresDatabase, prepared: bool, plans: str | None, mode: str
) -> None:
    """With statements kept, connections plan each run for its parameters (a
    generic plan made the batch claim 14x slower in a burst); without, or with
    no mode, nothing is sent that a transaction-mode pooler would refuse."""
    store = PostgresStore(
        conveyor_database.url, prepared_statements=prepared, plan_cache_mode=plans
    )
    await store.open()
    try:
        assert store.pool is not None
        async with store.pool.acquire() as conn:
            found = await conn.fetchval("SHOW plan_cache_mode")
        assert found == mode, f"plan_cache_mode {found!r}, expected {mode!r}"
    finally:
        await store.aclose()


async def test_prepared_statements_outlive_a_schema_change(
    conveyor_database: PostgresDatabase,
) -> None:
    """A migration that changes a column's type while workers hold prepared
    statements (a rolling upgrade) costs one retry, not an error: PostgreSQL
    refuses the stale statement, asyncpg forgets it, the store prepares it again."""
    store = PostgresStore(conveyor_database.url, pool_size=1)
    await store.open()
    try:
        await store.create_run(*new_run("before"))
        assert (await store.get_run("before")).recoveries == 0
        migrator = await asyncpg.connect(conveyor_database.url)
        try:
            await migrator.execute(
                "ALTER TABLE runs ALTER COLUMN recoveries TYPE bigint"
            )
        finally:
            await migrator.close()
        await store.create_run(*new_run("after"))
        run = await store.get_run("after")
        claim = await store.claim_run("after", "w1", now=2.0, ttl_s=30)
        assert run.recoveries == 0 and claim.run is not None, "served after the change"
    finally:
        await store.aclose()


async def test_outbox_written_with_the_run(conveyor_database: PostgresDatabase) -> None:
    """With the outbox on, a new run and its dispatch message land in one statement;
    an idempotent resubmission adds no message; claiming the run removes it."""
    store = PostgresStore(conveyor_database.url, outbox=True)
    await store.open()
    try:
        await store.create_run(*new_run("first", idempotency_key="order-1"))
        assert await store.outbox_size() == 1
        _, created = await store.create_run(
            *new_run("again", idempotency_key="order-1")
        )
        assert not created and await store.outbox_size() == 1
        [message] = await store.due_outbox(now=100.0, grace_s=1.0, repeat_s=10.0)
        assert (message.run_id, message.data["key"]) == ("first", "k")
        assert await store.due_outbox(now=101.0, grace_s=1.0, repeat_s=10.0) == []
        claim = await store.claim_run("first", "w1", now=2.0, ttl_s=30)
        assert claim.run is not None and claim.run.owner == "w1"
        assert await store.outbox_size() == 0
    finally:
        await store.aclose()


async def test_claim_keeps_key_order_and_tenant_limit(
    conveyor_database: PostgresDatabase,
) -> None:
    """A run is not claimed while an earlier run of its key is unfinished, nor
    while its tenant already holds its limit of leases."""
    store = PostgresStore(conveyor_database.url)
    await store.open()
    try:
        for run_id in ("k1", "k2"):
            await store.create_run(*new_run(run_id))
        assert (await store.claim_run("k2", "w", 1.0, 30)).refused == "key"
        first = await store.claim_run("k1", "w", 1.0, 30, tenant="t", tenant_limit=1)
        assert first.run is not None
        other, first_event = new_run("other")
        other.key = None
        await store.create_run(other, first_event)
        limited = await store.claim_run(
            "other", "w", 1.0, 30, tenant="t", tenant_limit=1
        )
        assert limited.refused == "tenant"
        assert (await store.claim_run("other", "w", 1.0, 30)).run is not None
    finally:
        await store.aclose()


async def test_concurrent_claims_never_exceed_the_tenant_limit(
    conveyor_database: PostgresDatabase,
) -> None:
    """Forty claims of one tenant's runs, from two stores (twenty connections
    each), all started while the tenant's lock is held elsewhere — so every
    statement began before any of them counted — with a limit of 3: exactly
    three win and the rest are refused for the limit; after one lease is
    released, exactly one more wins."""
    stores = [PostgresStore(conveyor_database.url, pool_size=20) for _ in range(2)]
    for store in stores:
        await store.open()
    blocker = await asyncpg.connect(conveyor_database.url)
    try:
        ids = [f"race-{n}" for n in range(40)]
        for run_id in ids:
            run, event = new_run(run_id)
            run.key = None
            await stores[0].create_run(run, event)
        held = blocker.transaction()
        await held.start()
        await blocker.execute("SELECT pg_advisory_xact_lock(hashtext('t'))")
        racing = asyncio.gather(
            *(
                stores[n % 2].claim_run(
                    run_id, f"w{n % 2}", 1.0, 30, tenant="t", tenant_limit=3
                )
                for n, run_id in enumerate(ids)
            )
        )

        async def all_waiting() -> bool:
            # inside a transaction the activity view is a snapshot: refresh it
            await blocker.execute("SELECT pg_stat_clear_snapshot()")
            waiting = await blocker.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'"
            )
            return bool(waiting == len(ids))

        await wait_until(all_waiting, timeout=10, message="every claim on the lock")
        await held.commit()
        claims = await racing
        won = [c.run for c in claims if c.run is not None and c.refused is None]
        assert len(won) == 3, f"expected 3 claims to win, got {won}"
        assert {c.refused for c in claims if c.refused} == {"tenant"}
        first = won[0]
        assert first.owner is not None
        await stores[0].release_leases(first.owner, [(first.id, first.lease_epoch)])
        taken = {run.id for run in won}
        again = await asyncio.gather(
            *(
                stores[0].claim_run(run_id, "w0", 2.0, 30, tenant="t", tenant_limit=3)
                for run_id in ids
                if run_id not in taken
            )
        )
        assert sum(c.run is not None and c.refused is None for c in again) == 1
    finally:
        await blocker.close()
        for store in stores:
            await store.aclose()
