"""`ExceptionPlatform`: the exception platform on one `Conveyor` engine — its stage
workflows registered, its tables, tools, tenants and catalogs — and the operations
the API offers: report, update, read, list, dead letters, tenant policies.

An event is accepted by storing its Intake run (`Conveyor.start`), one atomic
write of the run, its first event and its dispatch message (the engine's
outbox): nothing to split, so a crash can neither lose an accepted event nor
send one twice. Everything else is recorded by the stages.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from conveyor import Conveyor, RunRecord
from conveyor.errors import DeadLetterNotFoundError, NotFoundError
from conveyor.serde import digest
from conveyor.store.base import DeadLetter, RunQuery

from .config import ExceptionsSettings
from .handoffs import EventType, ExceptionUpdate, IntakeInput, Stage
from .models import ExceptionReport, normalize
from .playbooks import PlaybookCatalog, default_playbooks
from .repository import ExceptionFilter, ExceptionRepository
from .stages import build_stages
from .telemetry import Telemetry, current_traceparent, ingest_span
from .tenants import Tenant, TenantDirectory, TenantPolicy, load_tenants
from .tools import Toolbox, ToolSettings
from .triage import RuleSet, default_rules

WORKFLOW_PREFIX = "exceptions."


class ExceptionNotFoundError(NotFoundError):
    """No such exception."""

    def __init__(self, exception_id: str) -> None:
        self.exception_id = exception_id
        super().__init__(f"exception {exception_id!r} not found")


@dataclass(frozen=True, slots=True)
class Submission:
    """An accepted event: its exception, its id and whether this call made it."""

    exception_id: str
    event_id: str
    run_id: str
    created: bool


def exception_id_for(tenant: str, dedupe_key: str) -> str:
    """The id of a tenant's exception: the same report (by idempotency key, else by
    content) always names the same exception."""
    return "ex_" + digest({"tenant": tenant, "key": dedupe_key})[:24]


class ExceptionPlatform:
    """The platform on `conveyor` (registers its workflows there).

    Args:
        conveyor: the engine; not opened or closed here.
        settings: the platform's settings (default: `EXCEPTIONS_*` variables).
        tool_settings / toolbox: where the tools' services are, or the toolbox.
        tenants / rules / playbooks: the catalogs (default: the packaged ones).
    """

    def __init__(
        self,
        conveyor: Conveyor,
        *,
        settings: ExceptionsSettings | None = None,
        tool_settings: ToolSettings | None = None,
        toolbox: Toolbox | None = None,
        tenants: TenantDirectory | None = None,
        rules: RuleSet | None = None,
        playbooks: PlaybookCatalog | None = None,
    ) -> None:
        self.conveyor = conveyor
        self.settings = settings or ExceptionsSettings()
        self.tenants = tenants or load_tenants(self.settings.tenants_file)
        self.rules = rules or default_rules()
        self.playbooks = playbooks or default_playbooks()
        self.repository = ExceptionRepository(
            self.settings.database_for(conveyor.settings.store_url),
            worker=conveyor.worker_id,
            pool_size=self.settings.pool_size,
            statement_cache=self.settings.statement_cache,
        )
        self.telemetry = Telemetry(self.repository)
        self._tool_settings = tool_settings
        self._toolbox = toolbox
        self._own_toolbox = toolbox is None
        self._ready = False
        conveyor.register(*build_stages(self))

    # lifecycle -------------------------------------------------------------------
    async def ready(self) -> None:
        """Open the tables (migrating them) once; cheap afterwards."""
        if not self._ready:
            await self.repository.open()
            self._ready = True

    @property
    def toolbox(self) -> Toolbox:
        """The tool adapters (made on first use, inside the running loop)."""
        if self._toolbox is None:
            self._toolbox = Toolbox(self._tool_settings)
        return self._toolbox

    async def aclose(self) -> None:
        """Close what the platform opened (not the engine)."""
        await self.telemetry.stop()
        if self._toolbox is not None and self._own_toolbox:
            await self._toolbox.aclose()
            self._toolbox = None
        await self.repository.aclose()
        self._ready = False

    # accepting events ------------------------------------------------------------
    async def report(self, tenant: str, report: ExceptionReport) -> Submission:
        """Accept a report: its exception is named by its idempotency key (else
        its content), so a resend is the same event, not a second one."""
        exception = normalize(report, tenant)
        exception_id = exception_id_for(tenant, exception.dedupe_key)
        event_id = f"{exception_id}:reported"
        return await self._accept(
            tenant, exception_id, event_id, EventType.REPORTED, report=report
        )

    async def update(
        self, tenant: str, exception_id: str, update: ExceptionUpdate
    ) -> Submission:
        """Accept new information on a known exception of the tenant."""
        if not await self.exists(tenant, exception_id):
            raise ExceptionNotFoundError(exception_id)
        key = update.idempotency_key or uuid.uuid4().hex
        event_id = f"{exception_id}:u:{digest(key)}"
        return await self._accept(
            tenant, exception_id, event_id, EventType.UPDATED, update=update
        )

    async def _accept(
        self,
        tenant: str,
        exception_id: str,
        event_id: str,
        kind: EventType,
        *,
        report: ExceptionReport | None = None,
        update: ExceptionUpdate | None = None,
    ) -> Submission:
        with ingest_span(tenant) as span:
            span.set_attribute("exception.id", exception_id)
            data = IntakeInput(
                exception_id=exception_id, event_id=event_id, tenant=tenant,
                type=kind, ingested_at=self.conveyor.clock.now(),
                trace=current_traceparent(), report=report, update=update,
            )  # fmt: skip
            handle = await self.conveyor.start(
                Stage.INTAKE.workflow,
                data.model_dump(mode="json"),
                tenant=tenant,
                key=Stage.INTAKE.key(exception_id, self.settings.tenant_lanes),
                session_id=exception_id,
                idempotency_key=f"{event_id}:{Stage.INTAKE.value}",
            )
        return Submission(exception_id, event_id, handle.run_id, handle.created)

    # reading ---------------------------------------------------------------------
    async def exists(self, tenant: str, exception_id: str) -> bool:
        """Whether the tenant has an exception with this id (stored or accepted)."""
        await self.ready()
        if await self.repository.get_exception(tenant, exception_id, brief=True):
            return True
        return bool(await self._runs_of(tenant, exception_id, limit=1))

    async def _runs_of(
        self, tenant: str, exception_id: str, limit: int = 200
    ) -> list[RunRecord]:
        # every stage run of an exception reports to the session named by it
        query = RunQuery(
            tenant=tenant,
            session_id=exception_id,
            workflow=Stage.INTAKE.workflow,
            limit=limit,
        )
        return await self.conveyor.list_runs(query)

    async def get(self, tenant: str, exception_id: str) -> dict[str, Any]:
        """The exception with its events and what each stage did; an exception
        accepted but not yet taken by Intake shows as `received`."""
        await self.ready()
        found = await self.repository.get_exception(tenant, exception_id)
        runs = await self._runs_of(tenant, exception_id)
        if found is None and not runs:
            raise ExceptionNotFoundError(exception_id)
        if found is None:
            found = _accepted_only(exception_id, tenant, runs)
        stored = {event["event_id"] for event in found["events"]}
        found["pending_events"] = [
            {
                "event_id": run.input["event_id"],
                "type": run.input["type"],
                "ingested_at": run.input["ingested_at"],
                "run_id": run.id,
            }
            for run in reversed(runs)
            if run.input["event_id"] not in stored
        ]
        return found

    async def list_exceptions(self, query: ExceptionFilter) -> list[dict[str, Any]]:
        """One page of the tenant's exceptions, newest first."""
        await self.ready()
        return await self.repository.list_exceptions(query)

    # dead letters ----------------------------------------------------------------
    async def dead_letters(
        self, tenant: str, limit: int = 50
    ) -> list[tuple[DeadLetter, RunRecord]]:
        """The tenant's dead-lettered stage runs (newest first), with their runs."""
        letters = await self.conveyor.dead_letters(tenant, limit=max(limit, 200))
        mine = [x for x in letters if x.workflow.startswith(WORKFLOW_PREFIX)]
        runs = await asyncio.gather(
            *(self.conveyor.get_run(x.run_id, tenant) for x in mine[:limit])
        )
        return list(zip(mine[:limit], runs, strict=True))

    async def dead_letter(
        self, tenant: str, dead_letter_id: str
    ) -> tuple[DeadLetter, RunRecord]:
        """One dead letter of the tenant's stage runs."""
        letter = await self.conveyor.dead_letter(dead_letter_id, tenant)
        if not letter.workflow.startswith(WORKFLOW_PREFIX):
            raise DeadLetterNotFoundError(dead_letter_id)
        return letter, await self.conveyor.get_run(letter.run_id, tenant)

    async def replay(self, tenant: str, dead_letter_id: str) -> RunRecord:
        """Replay a dead-lettered stage: it resumes at the failed step, with the
        same idempotency keys, and the event carries on down the chain."""
        await self.dead_letter(tenant, dead_letter_id)
        handle = await self.conveyor.replay(dead_letter_id, tenant)
        return await self.conveyor.get_run(handle.run_id, tenant)

    # tenants and policies ----------------------------------------------------------
    def authenticate(self, api_key: str | None) -> Tenant | None:
        """The tenant of an API key, or None."""
        return None if not api_key else self.tenants.authenticate(api_key)

    async def policy(self, tenant: str) -> tuple[TenantPolicy, int]:
        """The tenant's policy in force and its version (0: the catalog's)."""
        await self.ready()
        stored = await self.repository.get_policy(tenant)
        if stored is not None:
            return stored
        return self.tenants.get(tenant).policy, 0

    async def set_policy(self, tenant: str, policy: TenantPolicy) -> int:
        """Replace the tenant's policy (events after this follow it)."""
        self.tenants.get(tenant)
        await self.ready()
        return await self.repository.put_policy(
            tenant, policy, self.conveyor.clock.now()
        )

    async def tenant_with_policy(self, tenant: str) -> tuple[Tenant, int]:
        """The tenant with the policy in force, and its version."""
        policy, version = await self.policy(tenant)
        return self.tenants.get(tenant).model_copy(update={"policy": policy}), version


def _accepted_only(
    exception_id: str, tenant: str, runs: list[RunRecord]
) -> dict[str, Any]:
    """An exception Intake has not stored yet, from its accepted report."""
    first = runs[-1].input
    report = first.get("report") or {}
    return {
        "id": exception_id,
        "tenant": tenant,
        "status": "received",
        "category": None,
        "severity": None,
        "source": report.get("source", ""),
        "kind": report.get("kind", ""),
        "message": report.get("message", ""),
        "external_ref": report.get("external_ref"),
        "fingerprint": None,
        "last_seq": 0,
        "created_at": first["ingested_at"],
        "updated_at": first["ingested_at"],
        "events": [],
        "stages": [],
        "tools": [],
    }
