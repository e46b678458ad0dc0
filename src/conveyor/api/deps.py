"""What routes depend on: the app's shared state (engine, settings, authenticator,
metrics) and the calling tenant."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader
from starlette.requests import HTTPConnection

from ..app import Conveyor
from ..errors import RateLimitedError
from ..ratelimit import TenantRateLimiter
from ..settings import Settings
from .auth import ADMIN_KEY_HEADER, API_KEY_HEADER, Authenticator

if TYPE_CHECKING:
    from .metrics import Metrics


@dataclass(frozen=True, slots=True)
class ApiState:
    """Everything the routes share, kept on `app.state.api`."""

    conveyor: Conveyor
    settings: Settings
    auth: Authenticator
    metrics: Metrics
    submissions: TenantRateLimiter | None = None
    """Each tenant's submission rate (`CONVEYOR_TENANT_SUBMIT_RATE`)."""

    async def admit_submission(self, tenant: str) -> None:
        """Hold a new submission of `tenant` until its turn under the tenant's
        rate, or refuse it (429) if that is too far away — before it costs a
        write."""
        if self.submissions is None:
            return
        slot = self.submissions.reserve(tenant)
        if not slot.admitted:
            raise RateLimitedError(tenant, self.submissions.rate_per_s, slot.wait_s)
        if slot.wait_s > 0:
            await asyncio.sleep(slot.wait_s)


def api_state(connection: HTTPConnection) -> ApiState:
    """The shared state of the app serving `connection`."""
    state = connection.app.state.api
    assert isinstance(state, ApiState)
    return state


State = Annotated[ApiState, Depends(api_state)]

_api_key = APIKeyHeader(
    name=API_KEY_HEADER,
    auto_error=False,
    description="Your tenant's API key (omit when the server runs without keys).",
)
_admin_key = APIKeyHeader(
    name=ADMIN_KEY_HEADER,
    auto_error=False,
    description="The admin key, for admin operations when one is configured.",
)


def current_tenant(state: State, key: Annotated[str | None, Security(_api_key)]) -> str:
    """The tenant of the request's API key (401 without a valid one)."""
    return state.auth.tenant_for(key)


def require_admin(
    state: State, key: Annotated[str | None, Security(_admin_key)]
) -> None:
    """Refuse (403) unless the request carries the admin key, if one is set."""
    state.auth.check_admin(key)


Tenant = Annotated[str, Depends(current_tenant)]
Admin = Depends(require_admin)
