"""The store conformance suite: the behaviour the engine relies on from any `Store`,
written once so that every backend — ours or a user's — proves the same contract.

Subclass `StoreConformance` in a test module and give it a `store_factory` fixture
returning a *new, unopened* store over the same backing data on every call (so the
suite can reopen it as a restarted process would)::

    class TestMyStore(StoreConformance):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: MyStore(tmp_path / "data")

Clauses: ordering, idempotency, crash and durability, concurrent writers (fencing),
tenant scoping, signals and dead letters. Times passed to the store are made up: the
caller's `now` decides leases, so no test waits.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import pytest_asyncio

from ..errors import (
    DeadLetterNotFoundError,
    LeaseLostError,
    RunNotFoundError,
    StoreError,
)
from ..runs import RunRecord, RunStatus
from ..store.base import RunQuery, RunUpdate, Store, WriteBatch
from .store_records import (
    NOW,
    OTHER,
    TENANT,
    TTL_S,
    all_events,
    dead_letter,
    event,
    new_run,
    seqs,
    snapshot,
    step,
)

StoreFactory = Callable[[], Store]
"""Builds a new, unopened store over the same backing data each time it is called."""


class StoreConformance:
    """The contract of `Store`; subclass it with a `store_factory` fixture."""

    pytestmark = pytest.mark.asyncio  # so the suite also runs in strict mode

    @pytest.fixture
    def store_factory(self) -> StoreFactory:
        """Override in the subclass: a factory of new, unopened stores."""
        pytest.fail(
            f"{type(self).__name__} must define a `store_factory` fixture returning "
            "a callable that builds a new, unopened Store over the same data",
            pytrace=False,
        )

    @pytest_asyncio.fixture
    async def open_instance(
        self, store_factory: StoreFactory
    ) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
        """Opens a fresh store instance per call; closes them all afterwards."""
        opened: list[Store] = []

        async def make() -> Store:
            instance = store_factory()
            await instance.open()
            opened.append(instance)
            return instance

        yield make
        for instance in reversed(opened):
            await instance.aclose()

    @pytest_asyncio.fixture
    async def store(self, open_instance: Callable[[], Awaitable[Store]]) -> Store:
        """One open store."""
        return await open_instance()

    async def leased(
        self, store: Store, tenant: str = TENANT, owner: str = "owner-a"
    ) -> RunRecord:
        """A new run owned by `owner` (its lease epoch is in the record)."""
        run, first = new_run(tenant)
        await store.create_run(run, first)
        owned = await store.acquire_lease(run.id, owner, NOW, TTL_S)
        assert owned is not None, "expected a new run to be free to lease, got None"
        return owned

    # ordering --------------------------------------------------------------------
    async def test_submit_seq_increases(self, store: Store) -> None:
        """Each created run gets a larger submit_seq than the one before."""
        created = []
        for _ in range(5):
            run, first = new_run()
            stored, _ = await store.create_run(run, first)
            created.append(stored.submit_seq)
        assert created == sorted(set(created)), f"expected increasing, got {created}"

    async def test_events_read_back_in_order_after_a_cursor(self, store: Store) -> None:
        """Events come back in seq order, after the cursor, at most `limit` of them;
        the run's last_seq follows the written events."""
        run = await self.leased(store)
        noise = await self.leased(store)
        for start in (2, 5, 8):
            batch = [event(run, seq) for seq in range(start, start + 3)]
            await store.write(WriteBatch(run.id, run.lease_epoch, events=batch))
            await store.write(
                WriteBatch(noise.id, noise.lease_epoch, events=[event(noise, start)])
            )
        stored = await store.read_events(run.id)
        assert seqs(stored) == list(range(1, 11)), f"got seqs {seqs(stored)}"
        assert stored[3] == event(run, 4), f"expected a faithful copy, got {stored[3]}"
        page = await store.read_events(run.id, 4, limit=3)
        assert seqs(page) == [5, 6, 7], f"expected [5, 6, 7] after 4, got {seqs(page)}"
        assert await store.read_events(run.id, 10) == [], "expected nothing after 10"
        last_seq = (await store.get_run(run.id)).last_seq
        assert last_seq == 10, f"expected last_seq 10, got {last_seq}"

    async def test_batches_of_one_run_apply_in_submission_order(
        self, store: Store
    ) -> None:
        """Batches of one run submitted without waiting land in submission order."""
        run = await self.leased(store)
        futures = [
            store.submit_write(
                WriteBatch(
                    run.id,
                    run.lease_epoch,
                    events=[event(run, seq)],
                    update=RunUpdate(query_state={"seq": seq}),
                )
            )
            for seq in range(2, 22)
        ]
        await asyncio.gather(*futures)
        stored = await store.get_run(run.id)
        assert (stored.last_seq, stored.query_state) == (21, {"seq": 21}), (
            f"expected the last batch to win, got {stored.last_seq} "
            f"{stored.query_state}"
        )
        got = seqs(await all_events(store, run.id))
        assert got == list(range(1, 22)), f"got seqs {got}"

    async def test_list_runs_newest_first_with_pagination(self, store: Store) -> None:
        """list_runs returns a tenant's runs newest first, paged with before_seq."""
        mine: list[str] = []
        for n in range(7):
            run, first = new_run(TENANT if n != 3 else OTHER)
            await store.create_run(run, first)
            if n != 3:
                mine.append(run.id)
            other, other_first = new_run(OTHER)
            await store.create_run(other, other_first)
        pages: list[list[RunRecord]] = []
        before = None
        while not pages or len(pages[-1]) == 4:
            query = RunQuery(tenant=TENANT, limit=4, before_seq=before)
            pages.append(await store.list_runs(query))
            before = pages[-1][-1].submit_seq if pages[-1] else None
        listed = [run.id for page in pages for run in page]
        assert listed == mine[::-1], f"expected {mine[::-1]} newest first: {listed}"
        everyone = await store.list_runs(RunQuery(tenant=None, limit=100))
        assert len(everyone) == 14, f"expected 14 runs of all tenants: {everyone}"

    async def test_unfinished_runs_in_submission_order(self, store: Store) -> None:
        """unfinished_runs lists pending/running/retrying runs, oldest first."""
        runs = [await self.leased(store) for _ in range(4)]
        updates = {1: RunStatus.COMPLETED, 2: RunStatus.RUNNING, 3: RunStatus.RETRYING}
        for index, status in updates.items():
            run = runs[index]
            update = RunUpdate(status=status, release_lease=status.is_terminal)
            await store.write(WriteBatch(run.id, run.lease_epoch, update=update))
        unfinished = [run.id for run in await store.unfinished_runs()]
        expected = [runs[0].id, runs[2].id, runs[3].id]
        assert unfinished == expected, f"expected {expected}, got {unfinished}"

    async def test_compaction_keeps_checkpoints_and_later_events(
        self, store: Store
    ) -> None:
        """compact_events drops events up to a seq and nothing else; numbering goes
        on after the dropped ones."""
        run = await self.leased(store)
        await store.write(
            WriteBatch(
                run.id,
                run.lease_epoch,
                events=[event(run, seq) for seq in range(2, 11)],
                steps=[step(run, 1), step(run, 2)],
            )
        )
        dropped = await store.compact_events(run.id, 6)
        assert dropped == 6, f"expected 6 events dropped, got {dropped}"
        await store.write(WriteBatch(run.id, run.lease_epoch, events=[event(run, 11)]))
        got = seqs(await all_events(store, run.id))
        assert got == [7, 8, 9, 10, 11], f"expected events 7-11, got {got}"
        steps = await store.load_steps(run.id)
        assert steps == {1: step(run, 1), 2: step(run, 2)}, f"got {steps}"

    # idempotency -----------------------------------------------------------------
    async def test_same_idempotency_key_returns_existing_run(
        self, store: Store
    ) -> None:
        """A second create with the same tenant and key returns the first run and
        stores nothing new."""
        first, first_event = new_run(idempotency_key="order-1", data=1)
        created, was_new = await store.create_run(first, first_event)
        assert (created.id, was_new) == (first.id, True), f"got {created.id} {was_new}"
        second, second_event = new_run(idempotency_key="order-1", data=2)
        existing, was_new = await store.create_run(second, second_event)
        assert (existing.id, existing.input, was_new) == (first.id, 1, False), (
            f"expected run {first.id} with input 1 returned, got {existing}"
        )
        with pytest.raises(RunNotFoundError):
            await store.get_run(second.id)

    async def test_concurrent_creates_with_one_key_make_one_run(
        self, store: Store
    ) -> None:
        """50 concurrent creates with one key make exactly one run."""
        attempts = [new_run(idempotency_key="race") for _ in range(50)]
        outcomes = await asyncio.gather(
            *(store.create_run(run, first) for run, first in attempts)
        )
        ids = {run.id for run, _ in outcomes}
        winners = sum(created for _, created in outcomes)
        assert (len(ids), winners) == (1, 1), (
            f"expected one run and one creator, got {len(ids)} runs, {winners}"
        )
        listed = await store.list_runs(RunQuery(tenant=TENANT, limit=100))
        assert [run.id for run in listed] == list(ids), f"got {listed}"

    async def test_idempotency_keys_are_per_tenant(self, store: Store) -> None:
        """The same key in another tenant, or no key at all, makes a new run."""
        ours, ours_event = new_run(TENANT, idempotency_key="shared")
        theirs, theirs_event = new_run(OTHER, idempotency_key="shared")
        keyless = [new_run(TENANT) for _ in range(2)]
        outcomes = [
            await store.create_run(run, first)
            for run, first in [(ours, ours_event), (theirs, theirs_event), *keyless]
        ]
        created = [was_new for _, was_new in outcomes]
        assert created == [True] * 4, f"expected four new runs, got {created}"

    # crash and durability ----------------------------------------------------------
    async def test_awaited_writes_survive_reopen(
        self,
        store_factory: StoreFactory,
        open_instance: Callable[[], Awaitable[Store]],
    ) -> None:
        """What a write returned for is in a fresh instance, both while the writer
        is still open (as when it crashes) and after it closed."""
        writer = store_factory()
        await writer.open()
        try:
            run = await self.leased(writer)
            await writer.write(
                WriteBatch(
                    run.id,
                    run.lease_epoch,
                    events=[event(run, 2), event(run, 3)],
                    steps=[step(run, 1, output={"a": [1, 2]})],
                    update=RunUpdate(status=RunStatus.RUNNING, query_state={"q": 1}),
                )
            )
            await writer.add_signal(run.id, "go", {"x": 1}, NOW)
            expected = await snapshot(writer, run.id)
            assert expected[0].status is RunStatus.RUNNING, f"got {expected[0]}"
            during = await snapshot(await open_instance(), run.id)
            assert during == expected, f"expected {expected}, got {during}"
        finally:
            await writer.aclose()
        after = await snapshot(await open_instance(), run.id)
        assert after == expected, f"expected {expected}, got {after}"

    async def test_fenced_batch_leaves_nothing_behind(self, store: Store) -> None:
        """A batch with a stale epoch raises LeaseLostError and changes nothing."""
        run = await self.leased(store)
        signal_id = await store.add_signal(run.id, "go", None, NOW)
        taken = await store.acquire_lease(run.id, "owner-b", NOW + 1, TTL_S, force=True)
        assert taken is not None, "expected a forced takeover, got None"
        assert taken.lease_epoch > run.lease_epoch, f"expected a higher epoch: {taken}"
        before = await store.get_run(run.id)
        stale = WriteBatch(
            run.id,
            run.lease_epoch,
            events=[event(run, 2)],
            steps=[step(run, 1)],
            update=RunUpdate(
                status=RunStatus.COMPLETED, output=1, set_output=True, query_state={}
            ),
            consumed_signals=[(1, signal_id)],
            dead_letter=dead_letter(run),
        )
        with pytest.raises(LeaseLostError):
            await store.write(stale)
        after = await store.get_run(run.id)
        assert after == before, f"expected the run untouched: {before} -> {after}"
        assert await store.load_steps(run.id) == {}, "expected no checkpoint"
        assert seqs(await all_events(store, run.id)) == [1], "expected no event"
        assert await store.list_dead_letters(None) == [], "expected no dead letter"
        pending = await store.pending_signals(run.id, "go")
        assert [s.id for s in pending] == [signal_id], f"expected unconsumed: {pending}"

    async def test_write_batch_is_atomic(self, store: Store) -> None:
        """A batch that cannot be applied whole (an event seq already stored) raises
        StoreError and applies none of its parts; other runs' batches still land."""
        run = await self.leased(store)
        neighbour = await self.leased(store)
        await store.write(WriteBatch(run.id, run.lease_epoch, events=[event(run, 2)]))
        signal_id = await store.add_signal(run.id, "go", None, NOW)
        broken = WriteBatch(
            run.id,
            run.lease_epoch,
            events=[event(run, 3), event(run, 2)],
            steps=[step(run, 1)],
            update=RunUpdate(status=RunStatus.RUNNING, query_state={"q": 1}),
            consumed_signals=[(1, signal_id)],
        )
        fine = WriteBatch(
            neighbour.id, neighbour.lease_epoch, events=[event(neighbour, 2)]
        )
        outcomes = await asyncio.gather(
            store.write(broken), store.write(fine), return_exceptions=True
        )
        assert isinstance(outcomes[0], StoreError), f"got {outcomes[0]!r}"
        assert outcomes[1] is None, f"expected the neighbour to land: {outcomes[1]!r}"
        after = await store.get_run(run.id)
        state = (after.status, after.last_seq, after.query_state)
        assert state == (RunStatus.PENDING, 2, {}), f"expected no change, got {state}"
        assert await store.load_steps(run.id) == {}, "expected no checkpoint"
        assert seqs(await all_events(store, run.id)) == [1, 2], "expected no event"
        assert len(await store.pending_signals(run.id, "go")) == 1, "expected pending"
        landed = (await store.get_run(neighbour.id)).last_seq
        assert landed == 2, f"expected the neighbour at seq 2, got {landed}"

    # concurrent writers ------------------------------------------------------------
    async def test_takeover_fences_the_old_owner(self, store: Store) -> None:
        """A live lease cannot be taken; an expired one can, with a higher epoch,
        after which only the new owner's writes land."""
        run = await self.leased(store, owner="owner-a")
        early = await store.acquire_lease(run.id, "owner-b", NOW + 1, TTL_S)
        assert early is None, f"expected the live lease kept, got {early}"
        taken = await store.acquire_lease(run.id, "owner-b", NOW + TTL_S + 1, TTL_S)
        assert taken is not None, "expected the expired lease taken over, got None"
        assert taken.owner == "owner-b", f"expected owner-b, got {taken.owner}"
        assert taken.lease_epoch > run.lease_epoch, f"expected a higher epoch: {taken}"
        with pytest.raises(LeaseLostError):
            await store.write(
                WriteBatch(run.id, run.lease_epoch, events=[event(run, 2)])
            )
        await store.write(WriteBatch(run.id, taken.lease_epoch, events=[event(run, 2)]))
        back = await store.acquire_lease(run.id, "owner-a", NOW + TTL_S + 2, TTL_S)
        assert back is None, f"expected owner-b's lease kept, got {back}"
        got = seqs(await all_events(store, run.id))
        assert got == [1, 2], f"expected only owner-b's event, got {got}"

    async def test_concurrent_batches_for_distinct_runs_all_land(
        self, store: Store
    ) -> None:
        """Many batches for distinct runs written at once all land, each whole."""
        runs = await asyncio.gather(*(self.leased(store) for _ in range(50)))
        await asyncio.gather(
            *(
                store.write(
                    WriteBatch(
                        run.id,
                        run.lease_epoch,
                        events=[event(run, 2), event(run, 3)],
                        steps=[step(run, 1)],
                        update=RunUpdate(status=RunStatus.RUNNING),
                    )
                )
                for run in runs
            )
        )
        for run in runs:
            stored = await store.get_run(run.id)
            assert (stored.status, stored.last_seq) == (RunStatus.RUNNING, 3), (
                f"expected running at seq 3, got {stored.status} {stored.last_seq}"
            )
            steps = list(await store.load_steps(run.id))
            assert steps == [1], f"expected checkpoint 1, got {steps}"
            got = seqs(await all_events(store, run.id))
            assert got == [1, 2, 3], f"expected events 1-3, got {got}"

    async def test_renew_leases_reports_lost_leases(self, store: Store) -> None:
        """renew_leases extends the leases still held and names the lost ones."""
        kept, lost = await self.leased(store), await self.leased(store)
        taken = await store.acquire_lease(lost.id, "owner-b", NOW + TTL_S + 1, TTL_S)
        assert taken is not None, "expected the expired lease taken over"
        held = [(kept.id, kept.lease_epoch), (lost.id, lost.lease_epoch)]
        reported = await store.renew_leases("owner-a", held, NOW + 100)
        assert reported == [lost.id], f"expected [{lost.id}] lost, got {reported}"
        renewed = await store.get_run(kept.id)
        assert renewed.lease_expires_at == NOW + 100, f"got {renewed}"
        still = await store.get_run(lost.id)
        assert (still.owner, still.lease_epoch) == ("owner-b", taken.lease_epoch), (
            f"expected owner-b's lease untouched, got {still}"
        )

    # tenant scoping ----------------------------------------------------------------
    async def test_runs_are_scoped_to_their_tenant(self, store: Store) -> None:
        """Another tenant cannot see a run: get_run says not found, lists omit it."""
        run, first = new_run(TENANT)
        await store.create_run(run, first)
        own = await store.get_run(run.id, TENANT)
        assert own.id == run.id, f"expected run {run.id}, got {own.id}"
        admin = await store.get_run(run.id)
        assert admin.id == run.id, f"expected an admin read of {run.id}: {admin.id}"
        with pytest.raises(RunNotFoundError):
            await store.get_run(run.id, OTHER)
        with pytest.raises(RunNotFoundError):
            await store.get_run("no-such-run")
        theirs = await store.list_runs(RunQuery(tenant=OTHER))
        assert theirs == [], f"expected no runs for {OTHER}, got {theirs}"

    async def test_dead_letters_are_scoped_to_their_tenant(self, store: Store) -> None:
        """Dead letters list and read only within their tenant (all for None)."""
        letters = {}
        for n, tenant in enumerate((TENANT, OTHER)):
            run = await self.leased(store, tenant)
            letter = dead_letter(run, created_at=NOW + n)
            update = RunUpdate(status=RunStatus.DEAD, release_lease=True)
            await store.write(
                WriteBatch(run.id, run.lease_epoch, update=update, dead_letter=letter)
            )
            letters[tenant] = letter
        ours = await store.list_dead_letters(TENANT)
        assert ours == [letters[TENANT]], f"expected only {TENANT}'s, got {ours}"
        with pytest.raises(DeadLetterNotFoundError):
            await store.get_dead_letter(letters[OTHER].id, TENANT)
        everyone = await store.list_dead_letters(None)
        assert everyone == [letters[OTHER], letters[TENANT]], (
            f"expected both, newest first, got {everyone}"
        )

    # signals ---------------------------------------------------------------------
    async def test_signals_are_fifo_and_consumed_once(self, store: Store) -> None:
        """Signals of a name come oldest first; a consumed one is never pending
        again; signals to a missing run are refused."""
        run = await self.leased(store)
        ids = {}
        for name, payload in (("go", "a"), ("other", "x"), ("go", "b"), ("go", "c")):
            ids[payload] = await store.add_signal(run.id, name, payload, NOW)
        pending = await store.pending_signals(run.id, "go")
        got = [(s.id, s.payload) for s in pending]
        assert got == [(ids[p], p) for p in "abc"], f"expected a, b, c; got {got}"
        await store.write(
            WriteBatch(run.id, run.lease_epoch, consumed_signals=[(1, ids["a"])])
        )
        await store.write(
            WriteBatch(run.id, run.lease_epoch, consumed_signals=[(2, ids["b"])])
        )
        left = [s.payload for s in await store.pending_signals(run.id, "go")]
        assert left == ["c"], f"expected only c pending, got {left}"
        other = [s.payload for s in await store.pending_signals(run.id, "other")]
        assert other == ["x"], f"expected x untouched, got {other}"
        with pytest.raises(RunNotFoundError):
            await store.add_signal("no-such-run", "go", None, NOW)

    # dead letters ------------------------------------------------------------------
    async def test_dead_letter_round_trip_and_replay(self, store: Store) -> None:
        """A dead letter reads back as written; replaying it marks it replayed,
        hides it from the default list and drops only the failed checkpoints."""
        run = await self.leased(store)
        letter = dead_letter(run)
        await store.write(
            WriteBatch(
                run.id,
                run.lease_epoch,
                events=[event(run, 2, "run.dead_lettered")],
                steps=[step(run, 1), step(run, 2, "failed")],
                update=RunUpdate(
                    status=RunStatus.DEAD, error=letter.error, release_lease=True
                ),
                dead_letter=letter,
            )
        )
        read = await store.get_dead_letter(letter.id)
        assert read == letter, f"expected {letter}, got {read}"
        listed = await store.list_dead_letters(TENANT)
        assert listed == [letter], f"expected [{letter}], got {listed}"
        dead = await store.get_run(run.id)
        assert (dead.status, dead.owner) == (RunStatus.DEAD, None), f"got {dead}"
        owned = await store.acquire_lease(run.id, "owner-b", NOW + 1, TTL_S)
        assert owned is not None, "expected a dead run to be free to lease"
        await store.write(
            WriteBatch(
                run.id,
                owned.lease_epoch,
                events=[event(run, 3, "run.replayed")],
                update=RunUpdate(status=RunStatus.PENDING, release_lease=True),
                drop_failed_steps=True,
                replayed_dead_letter=letter.id,
            )
        )
        replayed = await store.get_dead_letter(letter.id)
        assert replayed.replayed_at is not None, "expected replayed_at set"
        assert await store.list_dead_letters(TENANT) == [], "expected it hidden"
        listed = await store.list_dead_letters(TENANT, include_replayed=True)
        assert [item.id for item in listed] == [letter.id], f"expected it: {listed}"
        steps = await store.load_steps(run.id)
        assert steps == {1: step(run, 1)}, f"expected only step 1 kept, got {steps}"
        with pytest.raises(DeadLetterNotFoundError):
            await store.get_dead_letter("no-such-letter")

    async def test_cancel_request_is_stored(self, store: Store) -> None:
        """request_cancel flags the run for its owner; a missing run is refused."""
        run = await self.leased(store)
        await store.request_cancel(run.id)
        flagged = await store.get_run(run.id)
        assert flagged.cancel_requested, f"expected the flag set, got {flagged}"
        with pytest.raises(RunNotFoundError):
            await store.request_cancel("no-such-run")
