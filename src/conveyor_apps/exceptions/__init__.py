"""Exception processing, reference system 2: the domain layer.

Tenants report operational exceptions; each one is normalized (`models`), triaged by
ordered rules (`triage`), judged by the tenant's policy (`policy`, `tenants`), given
a playbook (`playbooks`) and remediated by tool adapters (`tools`) that call external
services, faked locally by `fakes`. The status of an exception moves through an
explicit state machine (`status`). Nothing re-exported here touches the engine, a
database or the bus: these are the pure pieces the workers are built from.

The platform on the engine lives in its own modules: `stages` (one workflow per
stage, handing typed contexts from `handoffs` to the next), `repository`, `schema`
and `database` (what the stages recorded, migrated by `migrations`), `platform`
(the operations), `api` and `schemas` (the HTTP routes and bodies), `telemetry`
(metrics and traces) and `mount` (`install` on an API, `register` on a worker).
"""

from __future__ import annotations

from .errors import CatalogError as CatalogError
from .errors import ExceptionsError as ExceptionsError
from .errors import PermanentToolError as PermanentToolError
from .errors import ReportInvalidError as ReportInvalidError
from .errors import StatusTransitionError as StatusTransitionError
from .errors import TenantMismatchError as TenantMismatchError
from .errors import TenantNotFoundError as TenantNotFoundError
from .errors import ToolError as ToolError
from .errors import TransientToolError as TransientToolError
from .models import Category as Category
from .models import ExceptionReport as ExceptionReport
from .models import NormalizedException as NormalizedException
from .models import Severity as Severity
from .models import normalize as normalize
from .models import parse_report as parse_report
from .playbooks import Playbook as Playbook
from .playbooks import PlaybookCatalog as PlaybookCatalog
from .playbooks import PlaybookSelection as PlaybookSelection
from .playbooks import PlaybookStep as PlaybookStep
from .playbooks import ToolName as ToolName
from .playbooks import default_playbooks as default_playbooks
from .playbooks import load_playbooks as load_playbooks
from .playbooks import parse_playbooks as parse_playbooks
from .playbooks import select_playbook as select_playbook
from .policy import PolicyDecision as PolicyDecision
from .policy import decide as decide
from .status import ExceptionStatus as ExceptionStatus
from .status import can_transition as can_transition
from .status import check_transition as check_transition
from .tenants import PolicyAction as PolicyAction
from .tenants import PolicyRule as PolicyRule
from .tenants import Tenant as Tenant
from .tenants import TenantDirectory as TenantDirectory
from .tenants import TenantPolicy as TenantPolicy
from .tenants import load_tenants as load_tenants
from .tenants import parse_tenants as parse_tenants
from .tools import HttpTool as HttpTool
from .tools import Toolbox as Toolbox
from .tools import ToolRequest as ToolRequest
from .tools import ToolResult as ToolResult
from .tools import ToolSettings as ToolSettings
from .triage import RuleMatch as RuleMatch
from .triage import RuleSet as RuleSet
from .triage import Triage as Triage
from .triage import TriageRule as TriageRule
from .triage import default_rules as default_rules
from .triage import load_rules as load_rules
from .triage import parse_rules as parse_rules
from .triage import triage as triage

__all__ = [
    "CatalogError",
    "Category",
    "ExceptionReport",
    "ExceptionStatus",
    "ExceptionsError",
    "HttpTool",
    "NormalizedException",
    "PermanentToolError",
    "Playbook",
    "PlaybookCatalog",
    "PlaybookSelection",
    "PlaybookStep",
    "PolicyAction",
    "PolicyDecision",
    "PolicyRule",
    "ReportInvalidError",
    "RuleMatch",
    "RuleSet",
    "Severity",
    "StatusTransitionError",
    "Tenant",
    "TenantDirectory",
    "TenantMismatchError",
    "TenantNotFoundError",
    "TenantPolicy",
    "ToolError",
    "ToolName",
    "ToolRequest",
    "ToolResult",
    "ToolSettings",
    "Toolbox",
    "TransientToolError",
    "Triage",
    "TriageRule",
    "can_transition",
    "check_transition",
    "decide",
    "default_playbooks",
    "default_rules",
    "load_playbooks",
    "load_rules",
    "load_tenants",
    "normalize",
    "parse_playbooks",
    "parse_report",
    "parse_rules",
    "parse_tenants",
    "select_playbook",
    "triage",
]
