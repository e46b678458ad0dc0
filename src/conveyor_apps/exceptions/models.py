"""What an exception is: the report a tenant sends, its normalized form after Intake
(with a BLAKE3 fingerprint), and the vocabulary every later stage shares.

Values that cross stages travel on the bus and are shown by the API, so they are
frozen pydantic models rather than dataclasses: one schema, validated on the way back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    WithJsonSchema,
    field_validator,
)

from conveyor.errors import PayloadTooLargeError
from conveyor.serde import check_size, digest, dumps, to_jsonable

from .errors import ReportInvalidError

MAX_REPORT_BYTES = 64 * 1024
MAX_MESSAGE_CHARS = 4000
MAX_ATTRIBUTES = 32
MAX_ATTRIBUTE_VALUE_CHARS = 1024
MAX_ATTRIBUTES_BYTES = 8 * 1024


class _CaseInsensitive(StrEnum):
    """A string enum that accepts its values in any case, with spaces around."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            return cls.__members__.get(value.strip().upper())
        return None


class Severity(_CaseInsensitive):
    """How bad an exception is, in increasing order."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0 for low up to 3 for critical."""
        return list(Severity).index(self)


class Category(_CaseInsensitive):
    """Which operational area an exception belongs to."""

    PAYMENTS = "payments"
    LOGISTICS = "logistics"
    JOBS = "jobs"
    DATA = "data"
    SECURITY = "security"
    OTHER = "other"


TenantId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$"),
]
Token = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$",
    ),
]
Text = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=MAX_MESSAGE_CHARS
    ),
]
Reference = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256)
]
# printable ASCII without spaces: it travels as an HTTP header
IdempotencyKey = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=r"^[!-~]+$")
]
AttributeKey = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
]


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_VALUE_CHARS:
            raise ValueError(f"must be at most {MAX_ATTRIBUTE_VALUE_CHARS} characters")
        return value
    raise ValueError("must be a string, a number, a boolean or null")


Scalar = Annotated[
    Any,
    AfterValidator(_scalar),
    WithJsonSchema({"type": ["string", "number", "boolean", "null"]}),
]
"""An attribute value: plain JSON scalars only, so fingerprints stay canonical."""


class ExceptionReport(BaseModel):
    """An operational exception as a tenant reports it (`POST /exceptions` body)."""

    model_config = ConfigDict(extra="forbid")

    source: Token = Field(description="The reporting system, e.g. `billing`.")
    kind: Token = Field(description="The exception type, e.g. `batch_failed`.")
    message: Text
    occurred_at: AwareDatetime
    external_ref: Reference | None = Field(
        None, description="The reporter's own id of the failing object."
    )
    attributes: dict[AttributeKey, Scalar] = Field(
        default_factory=dict, max_length=MAX_ATTRIBUTES
    )
    severity_hint: Severity | None = Field(
        None, description="The reporter's guess, used when no triage rule decides."
    )
    idempotency_key: IdempotencyKey | None = None

    @field_validator("attributes")
    @classmethod
    def _bounded(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(dumps(value).encode())
        if size > MAX_ATTRIBUTES_BYTES:
            raise ValueError(
                f"attributes are {size} bytes as JSON; the limit is "
                f"{MAX_ATTRIBUTES_BYTES}"
            )
        return value


class NormalizedException(BaseModel):
    """An exception after Intake: trimmed, canonical, in UTC, fingerprinted."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tenant: TenantId
    source: str
    kind: str
    message: str
    occurred_at: datetime
    external_ref: str | None = None
    attributes: dict[str, Scalar] = Field(default_factory=dict)
    severity_hint: Severity | None = None
    idempotency_key: str | None = None
    fingerprint: str = Field(description="BLAKE3 of the canonical content.")

    @property
    def dedupe_key(self) -> str:
        """What makes two reports the same: the client's key, else the content."""
        return self.idempotency_key or self.fingerprint


def parse_report(
    payload: bytes | str | Mapping[str, Any], *, max_bytes: int = MAX_REPORT_BYTES
) -> ExceptionReport:
    """Validate a raw report (JSON text or a decoded mapping) under a size limit.

    Raises:
        PayloadTooLargeError: the payload is larger than `max_bytes`.
        ReportInvalidError: the payload is not a valid report; `field` names the
            first offending field (`body` when it is not JSON at all).
    """
    try:
        if isinstance(payload, bytes | str):
            raw = payload.encode() if isinstance(payload, str) else payload
            if len(raw) > max_bytes:
                raise PayloadTooLargeError("report", len(raw), max_bytes)
            return ExceptionReport.model_validate_json(raw)
        check_size("report", to_jsonable(dict(payload)), max_bytes)
        return ExceptionReport.model_validate(payload)
    except ValidationError as exc:
        raise _invalid(exc) from exc


def _invalid(exc: ValidationError) -> ReportInvalidError:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return ReportInvalidError("body", first["msg"])
    field = ".".join(str(part) for part in first["loc"]) or "body"
    return ReportInvalidError(field, first["msg"])


def canonical_token(value: str) -> str:
    """`" Payment Batch "` → `"payment_batch"`: lower case, spaces as underscores."""
    return re.sub(r"\s+", "_", value.strip().lower())


def normalize(report: ExceptionReport, tenant: str) -> NormalizedException:
    """The canonical form of `report` for `tenant`, fingerprinted.

    The fingerprint covers the tenant and the content, not the idempotency key, so
    the same exception reported twice under different keys is still recognisable.
    """
    content: dict[str, Any] = {
        "tenant": tenant,
        "source": canonical_token(report.source),
        "kind": canonical_token(report.kind),
        "message": report.message,
        "occurred_at": report.occurred_at.astimezone(UTC),
        "external_ref": report.external_ref,
        "attributes": {
            key: value.strip() if isinstance(value, str) else value
            for key, value in sorted(report.attributes.items())
        },
        "severity_hint": report.severity_hint,
    }
    try:
        draft = NormalizedException(**content, fingerprint="")
    except ValidationError as exc:
        raise _invalid(exc) from exc
    canonical = draft.model_dump(
        mode="json", exclude={"fingerprint", "idempotency_key"}
    )
    return draft.model_copy(
        update={
            "idempotency_key": report.idempotency_key,
            "fingerprint": fingerprint(canonical),
        }
    )


def fingerprint(canonical: Mapping[str, Any]) -> str:
    """BLAKE3 of the canonical JSON of `canonical` (key order does not matter)."""
    return digest(dict(canonical))
