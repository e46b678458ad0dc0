"""`Admission`: runs wait on the worker and are admitted tenant by tenant in
turn within its capacity; under a tenant limit, a refused run is claimed again
only when a slot may have freed — one claim per tenant at a time, one per freed
slot, and a probe when nothing wakes the line."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from conveyor.errors import StoreError
from conveyor.runners.admission import Admission
from conveyor.runs import RunRecord, RunStatus
from conveyor.store.postgres import Claim


def make_run(run_id: str, tenant: str = "a") -> RunRecord:
    return RunRecord(
        id=run_id, workflow="wf", tenant=tenant, status=RunStatus.PENDING,
        input=None, created_at=0.0, updated_at=0.0,
    )  # fmt: skip


class FakeStore:
    """Counts leases per tenant against a limit, as the claim statement does."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held: Counter[str] = Counter()
        self.claims: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.refuse_as: dict[str, str] = {}
        self.fail = False
        self.broken = False
        self.pause: asyncio.Event | None = None

    async def claim(self, run: RunRecord) -> Claim:
        self.claims.append(run.id)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            claim = self._decide(run)
            if self.pause is not None:  # decided, but the answer is still on its way
                await self.pause.wait()
            return claim
        finally:
            self.in_flight -= 1

    def _decide(self, run: RunRecord) -> Claim:
        if self.fail:
            raise StoreError("away")
        if self.broken:
            raise RuntimeError("a bug")
        if run.id in self.refuse_as:
            return Claim(None, self.refuse_as[run.id])
        if self.held[run.tenant] >= self.limit:
            return Claim(None, "tenant")
        self.held[run.tenant] += 1
        return Claim(run)

    def free(self, tenant: str = "a") -> None:
        self.held[tenant] -= 1


class Admitted:
    """Records what the gate hands back."""

    def __init__(self) -> None:
        self.runs: list[tuple[str, str | None]] = []
        self.full: list[str] = []

    def admit(self, run: RunRecord, claim: Claim) -> None:
        self.runs.append((run.id, claim.refused))

    def on_full(self, tenant: str) -> None:
        self.full.append(tenant)


async def settle() -> None:
    """Let every claim the gate started finish."""
    for _ in range(20):
        await asyncio.sleep(0)


@pytest.fixture(name="store")
def fixture_store() -> FakeStore:
    return FakeStore(limit=2)


@pytest.fixture(name="admitted")
def fixture_admitted() -> Admitted:
    return Admitted()


@pytest.fixture(name="gate")
def fixture_gate(store: FakeStore, admitted: Admitted) -> Admission:
    return Admission(
        store.claim, admitted.admit, on_full=admitted.on_full, probe_s=60.0
    )


async def test_runs_beyond_the_limit_wait_after_one_refusal(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """Ten runs offered at once: two are admitted, one claim is refused, the
    other seven are never claimed, and only one claim is ever in flight."""
    for n in range(10):
        gate.offer(make_run(f"r{n}"))
    await settle()
    assert [run_id for run_id, _ in admitted.runs] == ["r0", "r1"]
    assert store.claims == ["r0", "r1", "r2"], store.claims
    assert store.most_in_flight == 1
    assert gate.is_full("a") and admitted.full == ["a"]
    assert len(gate.waiting_ids()) == 8


async def test_each_freed_slot_admits_one_run_with_one_claim(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """A wake after a slot frees claims exactly the next run, with no refused
    claim behind it."""
    for n in range(5):
        gate.offer(make_run(f"r{n}"))
    await settle()
    claims_before = len(store.claims)
    store.free()
    assert gate.wake("a") is True
    await settle()
    assert admitted.runs[-1] == ("r2", None)
    assert len(store.claims) == claims_before + 1, store.claims
    assert gate.is_full("a")


async def test_wake_during_a_refused_claim_retries_it(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """A slot freed while a refusal is on its way back is not lost: the gate
    claims for it at once, and the refused run keeps its place at the head."""
    store.held["a"] = 2  # full before the first claim is decided
    store.pause = asyncio.Event()
    for n in range(3):
        gate.offer(make_run(f"r{n}"))
    await settle()
    assert store.claims == ["r0"] and admitted.runs == []
    store.free()
    gate.wake("a")
    store.pause.set()
    await settle()
    assert admitted.runs == [("r1", None)], admitted.runs
    assert store.claims == ["r0", "r1"], store.claims
    assert [run.id for run in gate.take_all()] == ["r0", "r2"]


async def test_slots_freed_together_are_claimed_together(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """Two slots freeing at once start two claims at once, not one after the
    other."""
    for n in range(6):
        gate.offer(make_run(f"r{n}"))
    await settle()
    store.most_in_flight = 0
    store.free()
    store.free()
    gate.wake("a")
    gate.wake("a")
    await settle()
    assert store.most_in_flight == 2
    assert [run_id for run_id, _ in admitted.runs] == ["r0", "r1", "r2", "r3"]


async def test_a_full_line_probes_after_probe_s(
    store: FakeStore, admitted: Admitted
) -> None:
    """Without any wake (a lost hint, a dead worker's lease expiring), a full line
    claims again once `probe_s` has passed, not before."""
    gate = Admission(store.claim, admitted.admit, probe_s=0.05)
    for n in range(3):
        gate.offer(make_run(f"r{n}"))
    await settle()
    store.free()
    gate.probe()
    await settle()
    assert [run_id for run_id, _ in admitted.runs] == ["r0", "r1"]
    await asyncio.sleep(0.06)
    gate.probe()
    await settle()
    assert [run_id for run_id, _ in admitted.runs] == ["r0", "r1", "r2"]


async def test_other_refusals_go_to_the_worker_and_the_line_moves_on(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """A run refused because it ended or waits behind its key leaves the line
    with its refusal; the next run is claimed."""
    store.refuse_as["r0"] = "ended"
    gate.offer(make_run("r0"))
    gate.offer(make_run("r1"))
    await settle()
    assert admitted.runs == [("r0", "ended"), ("r1", None)]


async def test_tenants_are_independent(
    gate: Admission, store: FakeStore, admitted: Admitted
) -> None:
    """A full tenant does not hold up another tenant's runs."""
    for n in range(4):
        gate.offer(make_run(f"a{n}"))
    gate.offer(make_run("b0", tenant="b"))
    await settle()
    assert ("b0", None) in admitted.runs
    assert gate.is_full("a") and not gate.is_full("b")
    assert gate.wake("b") is False, "nothing of b waits"


async def test_store_errors_close_the_line_until_the_probe(
    store: FakeStore, admitted: Admitted
) -> None:
    """A claim that fails on the store leaves the run waiting; the probe tries
    again."""
    gate = Admission(store.claim, admitted.admit, probe_s=0.0)
    store.fail = True
    gate.offer(make_run("r0"))
    await settle()
    assert admitted.runs == [] and gate.waiting_ids() == ["r0"]
    store.fail = False
    gate.probe()
    await settle()
    assert admitted.runs == [("r0", None)]


async def test_unexpected_claim_errors_keep_the_run_in_line(
    store: FakeStore, admitted: Admitted
) -> None:
    """A claim failing for any other reason leaves the run first in line."""
    gate = Admission(store.claim, admitted.admit, probe_s=0.0)
    store.broken = True
    gate.offer(make_run("r0"))
    await settle()
    assert gate.waiting_ids() == ["r0"]
    store.broken = False
    gate.probe()
    await settle()
    assert admitted.runs == [("r0", None)]


async def test_closing_hands_the_waiting_runs_back(
    gate: Admission, store: FakeStore
) -> None:
    """After `aclose` nothing more is claimed, and `take_all` empties the gate."""
    for n in range(4):
        gate.offer(make_run(f"r{n}"))
    await settle()
    await gate.aclose()
    claims = len(store.claims)
    store.free()
    gate.wake("a")
    await settle()
    assert len(store.claims) == claims, "claimed after close"
    assert [run.id for run in gate.take_all()] == ["r2", "r3"]
    assert gate.waiting_ids() == []


async def test_a_failing_admission_does_not_stall_the_tenant(store: FakeStore) -> None:
    """If the worker's bookkeeping fails on one admitted run, the line still
    admits the next one."""
    seen: list[str] = []

    def admit(run: RunRecord, claim: Claim) -> None:
        seen.append(run.id)
        if run.id == "r0":
            raise RuntimeError("bookkeeping")

    gate = Admission(store.claim, admit)
    gate.offer(make_run("r0"))
    gate.offer(make_run("r1"))
    await settle()
    assert seen == ["r0", "r1"]


# capacity and turns -------------------------------------------------------------
@pytest.fixture(name="open_store")
def fixture_open_store() -> FakeStore:
    return FakeStore(limit=1_000)


def bounded(store: FakeStore, admitted: Admitted, capacity: int) -> Admission:
    return Admission(
        store.claim, admitted.admit, capacity=capacity, limited=False, probe_s=0.0
    )


def admitted_ids(admitted: Admitted) -> list[str]:
    return [run_id for run_id, _ in admitted.runs]


async def test_a_quiet_tenant_takes_the_next_free_place(
    open_store: FakeStore, admitted: Admitted
) -> None:
    """A flood fills the worker and queues behind it; a quiet tenant's run that
    arrives afterwards is admitted at the first place that frees, and the flood
    goes on in turn after it."""
    admission = bounded(open_store, admitted, capacity=2)
    for n in range(10):
        admission.offer(make_run(f"f{n}", tenant="flood"))
    await settle()
    admission.offer(make_run("q0", tenant="quiet"))
    admission.offer(make_run("q1", tenant="quiet"))
    await settle()
    assert admitted_ids(admitted) == ["f0", "f1"]
    for run_id in ("f0", "f1", "q0"):
        admission.release(run_id)
        await settle()
    assert admitted_ids(admitted) == ["f0", "f1", "q0", "f2", "q1"]
    assert admission.busy == 2


async def test_claims_in_flight_take_places(
    open_store: FakeStore, admitted: Admitted
) -> None:
    """Without a tenant limit one tenant may claim several runs at once, but
    never more than the capacity, and a place is taken from the claim on."""
    admission = bounded(open_store, admitted, capacity=3)
    open_store.pause = asyncio.Event()
    for n in range(8):
        admission.offer(make_run(f"r{n}"))
    await settle()
    assert open_store.most_in_flight == 3 and admission.busy == 3
    open_store.pause.set()
    await settle()
    assert admitted_ids(admitted) == ["r0", "r1", "r2"]
    assert len(admission.waiting_ids()) == 5


async def test_a_refused_claim_gives_its_place_back(
    open_store: FakeStore, admitted: Admitted
) -> None:
    """A run the store refuses (ended, behind its key) does not keep a place."""
    admission = bounded(open_store, admitted, capacity=1)
    open_store.refuse_as["r0"] = "ended"
    for n in range(2):
        admission.offer(make_run(f"r{n}"))
    await settle()
    assert admitted.runs == [("r0", "ended"), ("r1", None)]
    assert admission.busy == 1


async def test_a_waiting_run_gives_its_place_back_for_the_wait(
    open_store: FakeStore, admitted: Admitted
) -> None:
    """A run on a timer, a signal or a child does not count: the next run is
    admitted meanwhile, so a parent waiting on its children cannot starve
    them; after the wait it counts again, even beyond the capacity."""
    admission = bounded(open_store, admitted, capacity=1)
    for n in range(3):
        admission.offer(make_run(f"r{n}"))
    await settle()
    admission.wait_began("r0")
    admission.wait_began("r0")  # two children awaited at once
    await settle()
    assert admitted_ids(admitted) == ["r0", "r1"]
    admission.wait_ended("r0")
    assert admission.busy == 1, "still waiting on one child"
    admission.wait_ended("r0")
    assert admission.busy == 2
    admission.release("r1")
    await settle()
    assert admitted_ids(admitted) == ["r0", "r1"], "over capacity: nothing admitted"
    admission.release("r0")
    await settle()
    assert admitted_ids(admitted) == ["r0", "r1", "r2"]
    admission.release("r2")
    admission.release("r2")  # a second release is harmless
    assert admission.busy == 0


async def test_a_store_away_closes_an_unlimited_line_until_the_probe(
    open_store: FakeStore, admitted: Admitted
) -> None:
    """Claims failing on the store put the runs back and stop claiming for the
    tenant (no retry loop) until the probe; the places are given back."""
    admission = Admission(
        open_store.claim, admitted.admit, capacity=4, limited=False, probe_s=60.0
    )
    open_store.fail = True
    for n in range(3):
        admission.offer(make_run(f"r{n}"))
    await settle()
    claims = len(open_store.claims)
    await settle()
    assert len(open_store.claims) == claims and admission.busy == 0
    assert admission.waiting_ids() == ["r0", "r1", "r2"]
    open_store.fail = False
    admission.probe_s = 0.0
    admission.probe()
    await settle()
    assert admitted_ids(admitted) == ["r0", "r1", "r2"]
