"""Exception reports are validated with the offending field named, bounded in size,
and normalized into a canonical, fingerprinted form."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from exceptions_support import ExceptionFactory, ReportFactory

from conveyor.errors import PayloadTooLargeError, ValidationFailedError
from conveyor_apps.exceptions import (
    ExceptionReport,
    ReportInvalidError,
    Severity,
    normalize,
    parse_report,
)
from conveyor_apps.exceptions.models import (
    MAX_ATTRIBUTES,
    MAX_MESSAGE_CHARS,
    Category,
    canonical_token,
)


def _field_of(payload: Any) -> str:
    with pytest.raises(ReportInvalidError) as caught:
        parse_report(payload)
    return caught.value.field


def test_valid_report_parses_from_json_bytes_and_mapping(
    report_for: ReportFactory,
) -> None:
    """The same report parses alike from JSON text, bytes and a mapping."""
    payload = report_for()
    from_mapping = parse_report(payload)
    from_text = parse_report(json.dumps(payload))
    from_bytes = parse_report(json.dumps(payload).encode())
    assert from_mapping == from_text == from_bytes, "all three forms must agree"
    assert from_mapping.source == "billing", from_mapping.source


def test_mapping_may_hold_python_values(report_for: ReportFactory) -> None:
    """A mapping built in Python (a datetime object, say) is size-checked and parsed."""
    when = datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert parse_report(report_for(occurred_at=when)).occurred_at == when


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"source": ""}, "source"),
        ({"source": "   "}, "source"),
        ({"source": "bill/ing"}, "source"),
        ({"source": "x" * 65}, "source"),
        ({"kind": None}, "kind"),
        ({"message": "x" * (MAX_MESSAGE_CHARS + 1)}, "message"),
        ({"occurred_at": "2025-03-01T10:00:00"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"external_ref": "r" * 257}, "external_ref"),
        ({"severity_hint": "apocalyptic"}, "severity_hint"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"idempotency_key": "k" * 129}, "idempotency_key"),
        ({"attributes": {"bad key": 1}}, "attributes.bad key.[key]"),
        ({"attributes": {"nested": {"a": 1}}}, "attributes.nested"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
def test_invalid_field_is_named(
    report_for: ReportFactory, override: dict[str, Any], field: str
) -> None:
    """A report with one bad field is refused with that field named."""
    got = _field_of(report_for(**override))
    assert got == field, f"expected the error to name {field!r}, got {got!r}"


def test_missing_field_is_named(report_for: ReportFactory) -> None:
    """A report lacking a required field names it."""
    payload = report_for()
    del payload["message"]
    assert _field_of(payload) == "message"


def test_non_json_and_non_object_name_the_body() -> None:
    """Text that is not JSON, or JSON that is not an object, blames `body`."""
    assert _field_of(b"{not json") == "body"
    assert _field_of("[1, 2]") == "body"


def test_report_error_is_a_validation_failure(report_for: ReportFactory) -> None:
    """ReportInvalidError is conveyor's ValidationFailedError, with details."""
    with pytest.raises(ValidationFailedError) as caught:
        parse_report(report_for(source=""))
    assert caught.value.details()["field"] == "source", caught.value.details()


def test_too_many_attributes_are_refused(report_for: ReportFactory) -> None:
    """More attributes than the limit are refused, naming `attributes`."""
    many = {f"k{i}": i for i in range(MAX_ATTRIBUTES + 1)}
    assert _field_of(report_for(attributes=many)) == "attributes"


def test_oversized_attributes_are_refused(report_for: ReportFactory) -> None:
    """Attributes whose JSON exceeds the byte limit are refused with their size."""
    big = {f"k{i}": "v" * 1000 for i in range(10)}
    with pytest.raises(ReportInvalidError) as caught:
        parse_report(report_for(attributes=big))
    assert caught.value.field == "attributes", caught.value.field
    assert "bytes" in caught.value.problem, caught.value.problem


def test_scalar_attributes_are_kept(report_for: ReportFactory) -> None:
    """Strings, numbers, booleans and null are all valid attribute values."""
    values = {"s": "x", "i": 3, "f": 0.5, "b": False, "n": None}
    assert parse_report(report_for(attributes=values)).attributes == values


def test_overlong_attribute_value_is_named(report_for: ReportFactory) -> None:
    """An attribute string above the limit is refused, naming its key."""
    with pytest.raises(ReportInvalidError) as caught:
        parse_report(report_for(attributes={"note": "n" * 1025}))
    assert caught.value.field == "attributes.note", caught.value.field
    assert "at most 1024 characters" in caught.value.problem, caught.value.problem


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_attribute_is_refused(
    report_for: ReportFactory, value: float
) -> None:
    """NaN and infinity have no canonical JSON form, so they are refused."""
    assert _field_of(report_for(attributes={"ratio": value})).startswith("attributes")


@pytest.mark.parametrize("as_text", [True, False])
def test_oversized_report_is_refused(report_for: ReportFactory, as_text: bool) -> None:
    """A report above the byte limit raises PayloadTooLargeError with its size."""
    payload = report_for(message="m" * 900)
    with pytest.raises(PayloadTooLargeError) as caught:
        parse_report(json.dumps(payload) if as_text else payload, max_bytes=512)
    assert caught.value.max_bytes == 512, caught.value.details()
    assert caught.value.size_bytes > 512, caught.value.details()


def test_normalize_trims_canonicalizes_and_converts_to_utc(
    report_for: ReportFactory,
) -> None:
    """Intake trims text, canonicalizes tokens and enums, and moves time to UTC."""
    report = parse_report(
        report_for(
            source="  Billing Core ",
            kind="Nightly  Batch-Failed",
            message="  card network down \n",
            occurred_at="2025-03-01T12:00:00+02:00",
            external_ref="  batch-42 ",
            attributes={"b": " spaced ", "a": 1, "flag": True},
            severity_hint=" HIGH ",
            idempotency_key="client-key-1",
        )
    )
    normal = normalize(report, "acme")
    assert (normal.source, normal.kind) == ("billing_core", "nightly_batch-failed")
    assert normal.message == "card network down", repr(normal.message)
    assert normal.occurred_at == datetime(2025, 3, 1, 10, tzinfo=UTC)
    assert normal.external_ref == "batch-42", normal.external_ref
    assert list(normal.attributes) == ["a", "b", "flag"], normal.attributes
    assert normal.attributes["b"] == "spaced", normal.attributes
    assert normal.severity_hint is Severity.HIGH, normal.severity_hint
    assert normal.dedupe_key == "client-key-1", normal.dedupe_key


def test_fingerprint_ignores_formatting_and_idempotency_key(
    report_for: ReportFactory,
) -> None:
    """Reports that differ only in spacing, case, offset or key share a fingerprint."""
    first = normalize(parse_report(report_for(idempotency_key="a")), "acme")
    second = normalize(
        parse_report(
            report_for(
                source=" BILLING ",
                occurred_at="2025-03-01T11:00:00+01:00",
                idempotency_key="b",
            )
        ),
        "acme",
    )
    assert first.fingerprint == second.fingerprint, "same content, same fingerprint"
    assert len(first.fingerprint) == 32, first.fingerprint


def test_fingerprint_separates_tenants_and_content(
    exception_for: ExceptionFactory,
) -> None:
    """The tenant and every content field change the fingerprint."""
    base = exception_for()
    others = [
        exception_for(tenant="globex"),
        exception_for(message="another failure"),
        exception_for(attributes={"job_id": "job-43"}),
        exception_for(attributes={"job_id": 42}),
    ]
    prints = {base.fingerprint, *(o.fingerprint for o in others)}
    assert len(prints) == 5, f"expected 5 distinct fingerprints, got {prints}"


def test_without_key_dedupe_falls_back_to_fingerprint(
    exception_for: ExceptionFactory,
) -> None:
    """With no idempotency key the fingerprint identifies duplicates."""
    normal = exception_for()
    assert normal.idempotency_key is None
    assert normal.dedupe_key == normal.fingerprint


def test_bad_tenant_is_refused_at_normalization(report_for: ReportFactory) -> None:
    """A malformed tenant id is refused, naming `tenant`."""
    with pytest.raises(ReportInvalidError) as caught:
        normalize(parse_report(report_for()), "Not A Tenant")
    assert caught.value.field == "tenant", caught.value.field


def test_normalized_exception_is_frozen(exception_for: ExceptionFactory) -> None:
    """A normalized exception cannot be changed after Intake."""
    normal = exception_for()
    with pytest.raises(ValueError, match="frozen"):
        normal.message = "changed"  # type: ignore[misc]


def test_enums_accept_any_case_and_rank_severities() -> None:
    """Severity and Category parse in any case; severities rank low to critical."""
    assert Severity(" Critical ") is Severity.CRITICAL
    assert Category("PAYMENTS") is Category.PAYMENTS
    assert [s.rank for s in Severity] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="severe"):
        Severity("severe")
    with pytest.raises(ValueError, match="3"):
        Severity(3)  # type: ignore[arg-type]


def test_canonical_token_collapses_whitespace() -> None:
    """Tokens are lower-cased with runs of whitespace turned into one underscore."""
    assert canonical_token("  Payment \t Batch ") == "payment_batch"


def test_report_schema_forbids_extra_fields() -> None:
    """The report model forbids unknown fields (its JSON schema says so)."""
    schema = ExceptionReport.model_json_schema()
    assert schema.get("additionalProperties") is False, schema
