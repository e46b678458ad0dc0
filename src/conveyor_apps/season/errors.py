"""Errors the season domain raises, rooted in conveyor's hierarchy.

```
ConveyorError
└── SeasonError
    ├── DataNotFoundError (NotFoundError, LookupError)   no history for a category
    ├── ParameterExtractionError (ValueError)            text lacks a parameter
    └── ExtractorBackendError                            the LLM endpoint failed
```

Invalid parameter *values* (a 100-week horizon, an end before the start) surface as
pydantic's `ValidationError`, which names the field.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from conveyor.errors import ConveyorError, NotFoundError


class SeasonError(ConveyorError):
    """The season planning domain failed."""


class DataNotFoundError(SeasonError, NotFoundError):
    """No historical data for the requested category."""

    def __init__(self, category_id: str) -> None:
        self.category_id = category_id
        super().__init__(f"No historical data for category {category_id!r}")

    def details(self) -> dict[str, Any]:
        return {"category_id": self.category_id}


class ParameterExtractionError(SeasonError, ValueError):
    """The text does not state every season parameter."""

    def __init__(self, missing: Sequence[str], text: str | None = None) -> None:
        self.missing = list(missing)
        self.text = text
        super().__init__(
            "Could not extract season parameters; missing: " + ", ".join(self.missing)
        )

    def details(self) -> dict[str, Any]:
        return {"missing": self.missing}


class ExtractorBackendError(SeasonError):
    """The parameter extraction backend could not be reached or answered badly."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)

    def details(self) -> dict[str, Any]:
        return {"status_code": self.status_code}
