"""Season errors carry the messages and fields the API maps to responses."""

from __future__ import annotations

from conveyor.errors import ConveyorError, NotFoundError
from conveyor_apps.season import (
    DataNotFoundError,
    ExtractorBackendError,
    ParameterExtractionError,
    SeasonError,
)


def test_data_not_found_names_category() -> None:
    """DataNotFoundError says "No historical data" and names the category."""
    error = DataNotFoundError("CAT999")
    assert "No historical data" in str(error), str(error)
    assert "CAT999" in str(error), str(error)
    assert error.details() == {"category_id": "CAT999"}


def test_data_not_found_is_a_lookup_error() -> None:
    """DataNotFoundError is catchable as LookupError, NotFoundError and SeasonError."""
    error = DataNotFoundError("X")
    for family in (LookupError, NotFoundError, SeasonError, ConveyorError):
        assert isinstance(error, family), f"expected a {family.__name__}"


def test_parameter_extraction_lists_missing() -> None:
    """ParameterExtractionError keeps `.missing` and names it in the message."""
    error = ParameterExtractionError(["season_start_date", "dc_holdback_percentage"])
    assert error.missing == ["season_start_date", "dc_holdback_percentage"]
    assert "season_start_date, dc_holdback_percentage" in str(error), str(error)
    assert error.details() == {"missing": error.missing}
    assert isinstance(error, ValueError)


def test_backend_error_keeps_status() -> None:
    """ExtractorBackendError carries the HTTP status when there was one."""
    error = ExtractorBackendError("boom", status_code=503)
    assert error.status_code == 503
    assert error.details() == {"status_code": 503}
    assert str(error) == "boom"
