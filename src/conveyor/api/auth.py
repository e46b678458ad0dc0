"""Who is calling: API key → tenant (digests compared in constant time), the admin key
for admin operations, and the `Origin` check for WebSocket handshakes."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from ..settings import Settings, hash_key
from .errors import AuthenticationError, PermissionDeniedError

logger = logging.getLogger("conveyor.api")

DEFAULT_TENANT = "default"
API_KEY_HEADER = "X-API-Key"
API_KEY_PARAM = "api_key"
ADMIN_KEY_HEADER = "X-Admin-Key"


class Authenticator:
    """Maps presented keys to tenants. With no keys configured the API is open and
    everything belongs to tenant "default" (development mode)."""

    def __init__(self, settings: Settings) -> None:
        self._digests = list(settings.tenant_keys().items())
        admin = settings.admin_key.get_secret_value()
        self._admin_digest = hash_key(admin) if admin else None
        self._origins = {
            item.strip().rstrip("/").lower()
            for item in settings.allowed_origins.split(",")
            if item.strip()
        }
        if not self._digests:
            logger.warning(
                "no API keys configured (CONVEYOR_API_KEYS): the API is open and "
                "every caller is tenant %r",
                DEFAULT_TENANT,
            )

    @property
    def open_mode(self) -> bool:
        """No keys are configured."""
        return not self._digests

    def tenant_for(self, key: str | None) -> str:
        """The tenant of `key`, or `AuthenticationError`."""
        if self.open_mode:
            return DEFAULT_TENANT
        if not key:
            raise AuthenticationError()
        presented = hash_key(key)
        found: str | None = None
        # every digest is compared, so the time taken says nothing about which matched
        for digest, tenant in self._digests:
            if hmac.compare_digest(presented, digest):
                found = tenant
        if found is None:
            raise AuthenticationError("the API key is not valid")
        return found

    def check_admin(self, key: str | None) -> None:
        """Refuse with `PermissionDeniedError` unless `key` is the admin key (when
        one is configured)."""
        if self._admin_digest is None:
            return
        if not key or not hmac.compare_digest(hash_key(key), self._admin_digest):
            raise PermissionDeniedError()

    def origin_allowed(self, origin: str | None, host: str | None) -> bool:
        """Browsers send `Origin` on WebSocket handshakes: allow listed origins (or
        "*"), same-host pages, and clients that send none."""
        if origin is None:
            return True
        normalized = origin.strip().rstrip("/").lower()
        if "*" in self._origins or normalized in self._origins:
            return True
        netloc = urlsplit(normalized).netloc
        return bool(netloc) and host is not None and netloc == host.strip().lower()


def connection_key(connection: HTTPConnection, allow_query: bool = False) -> str | None:
    """The API key of a request: the header, or (WebSockets, which browsers cannot
    give headers) the `api_key` query parameter."""
    key = connection.headers.get(API_KEY_HEADER)
    if key is None and allow_query:
        key = connection.query_params.get(API_KEY_PARAM)
    return key
