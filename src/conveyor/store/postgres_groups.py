"""A commit group of `PostgresStore`: many owners' write batches applied in one
transaction with one statement per kind of row, whatever the group's size.

Consecutive batches of one run under one lease epoch merge into one row update
(as if applied in order); a run that appears again under another epoch goes into
the next round, so each fenced `UPDATE` touches a row at most once. The common
group — one round of checkpoints, events and run updates — is one statement, so
it needs no explicit transaction: one round trip whatever its size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import asyncpg

from ..serde import dumps
from . import postgres_sql as sql
from . import sqlite_sql as rows
from .base import WriteBatch
from .batching import as_columns


@dataclass(slots=True)
class Merged:
    """The batches of one run and epoch in a group, as one row update."""

    run_id: str
    epoch: int
    batches: list[WriteBatch] = field(default_factory=list)
    last_seq: int | None = None
    status: str | None = None
    error: str | None = None
    set_output: bool = False
    output: str | None = None
    query_state: str | None = None
    release: bool = False
    lease_until: float | None = None
    recoveries: int = 0

    def add(self, batch: WriteBatch) -> None:
        """Fold `batch` in after the ones already here."""
        self.batches.append(batch)
        if batch.last_seq is not None:
            self.last_seq = max(self.last_seq or 0, batch.last_seq)
        update = batch.update
        if update is None:
            return
        if update.status is not None:
            self.status = update.status.value
            self.error = dumps(update.error) if update.error is not None else None
        if update.set_output:
            self.set_output, self.output = True, dumps(update.output)
        if update.query_state is not None:
            self.query_state = dumps(update.query_state)
        self.release = self.release or update.release_lease
        if update.lease_until is not None:
            self.lease_until = update.lease_until
        self.recoveries += 1 if update.count_recovery else 0

    def row(self) -> tuple[Any, ...]:
        """Values for one element of the `FENCED_UPDATE` arrays."""
        return (
            self.run_id,
            self.epoch,
            self.last_seq,
            self.status,
            self.set_output,
            self.output,
            self.error,
            self.query_state,
            self.release,
            self.lease_until,
            self.recoveries,
        )


class GroupPlan:
    """How to apply a list of batches; `apply` returns the (run, epoch) pairs whose
    fence held — every other batch is refused as a lost lease."""

    def __init__(self, batches: list[WriteBatch], now: float) -> None:
        self.now = now
        self.rounds: list[dict[str, Merged]] = []
        latest: dict[str, int] = {}
        for batch in batches:
            index = latest.get(batch.run_id)
            if index is not None and self.rounds[index][batch.run_id].epoch == (
                batch.epoch
            ):
                self.rounds[index][batch.run_id].add(batch)
                continue
            index = 0 if index is None else index + 1
            if index == len(self.rounds):
                self.rounds.append({})
            merged = self.rounds[index][batch.run_id] = Merged(
                batch.run_id, batch.epoch
            )
            merged.add(batch)
            latest[batch.run_id] = index

    @property
    def simple(self) -> bool:
        """Whether one `GROUP_COMMIT` statement applies the whole group."""
        return len(self.rounds) <= 1 and not any(
            b.drop_failed_steps
            or b.consumed_signals
            or b.dead_letter is not None
            or b.replayed_dead_letter is not None
            for round_ in self.rounds
            for merged in round_.values()
            for b in merged.batches
        )

    async def apply_simple(self, conn: asyncpg.Connection) -> set[tuple[str, int]]:
        """Apply a `simple` group with one statement (atomic on its own)."""
        round_ = self.rounds[0] if self.rounds else {}
        batches = [batch for merged in round_.values() for batch in merged.batches]
        updates = as_columns([m.row() for m in round_.values()], 11)
        steps = {(s.run_id, s.step_id): s for b in batches for s in b.steps}
        step_rows = as_columns([rows.step_params(step) for step in steps.values()], 11)
        events = [rows.event_params(e) for b in batches for e in b.events]
        found = await conn.fetch(
            sql.GROUP_COMMIT,
            *updates,
            self.now,
            *step_rows,
            *as_columns(events, 10),
        )
        return {(round_[row[0]].run_id, round_[row[0]].epoch) for row in found}

    async def apply(
        self, conn: asyncpg.Connection, outbox: bool
    ) -> set[tuple[str, int]]:
        """Run the group's statements inside the caller's transaction."""
        applied: list[Merged] = []
        routes: dict[str, tuple[str, str | None, str]] = {}
        for round_ in self.rounds:
            columns = list(zip(*(m.row() for m in round_.values()), strict=True))
            for row in await conn.fetch(sql.FENCED_UPDATE, *columns, self.now):
                applied.append(round_[row[0]])
                routes[row[0]] = (row[1], row[2], row[3])
        batches = [batch for merged in applied for batch in merged.batches]
        await self._insert_rows(conn, batches)
        await self._dead_letters(conn, batches, routes, outbox)
        return {(merged.run_id, merged.epoch) for merged in applied}

    async def _insert_rows(
        self, conn: asyncpg.Connection, batches: list[WriteBatch]
    ) -> None:
        steps = {(s.run_id, s.step_id): s for b in batches for s in b.steps}
        if steps:
            params = [rows.step_params(step) for step in steps.values()]
            await conn.execute(sql.UPSERT_STEPS, *zip(*params, strict=True))
        dropped = [b.run_id for b in batches if b.drop_failed_steps]
        if dropped:
            await conn.execute(sql.DELETE_FAILED_STEPS, dropped)
        events = [rows.event_params(e) for b in batches for e in b.events]
        if events:
            await conn.execute(sql.INSERT_EVENTS, *zip(*events, strict=True))
        consumed = [pair for b in batches for pair in b.consumed_signals]
        if consumed:
            await conn.execute(sql.CONSUME_SIGNALS, *zip(*consumed, strict=True))

    async def _dead_letters(
        self,
        conn: asyncpg.Connection,
        batches: list[WriteBatch],
        routes: dict[str, tuple[str, str | None, str]],
        outbox: bool,
    ) -> None:
        letters = [b.dead_letter for b in batches if b.dead_letter is not None]
        if letters:
            await conn.executemany(
                sql.INSERT_DEAD_LETTER,
                [rows.dead_letter_params(letter) for letter in letters],
            )
        replays = [b for b in batches if b.replayed_dead_letter is not None]
        if replays:
            await conn.executemany(
                sql.MARK_REPLAYED,
                [(self.now, b.replayed_dead_letter) for b in replays],
            )
        if outbox and replays:
            from .postgres import dispatch_id

            messages = []
            for batch in replays:
                tenant, key, workflow = routes[batch.run_id]
                data = {"tenant": tenant, "key": key, "workflow": workflow}
                msg_id = dispatch_id(batch.run_id, batch.last_seq or 0)
                messages.append(
                    (msg_id, "dispatch", batch.run_id, dumps(data), self.now)
                )
            await conn.executemany(sql.INSERT_OUTBOX, messages)
