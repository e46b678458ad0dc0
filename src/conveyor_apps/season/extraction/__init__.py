"""Turning a planner's plain words into `SeasonParameters`, offline or via an LLM.

`Extractor` is the interface; `RuleBasedExtractor` (deterministic, offline) and
`LLMExtractor` (OpenAI-compatible chat completions) are its backends.
"""

from __future__ import annotations

from .base import ExtractedFields as ExtractedFields
from .base import Extractor as Extractor
from .llm import LLMExtractor as LLMExtractor
from .rules import RuleBasedExtractor as RuleBasedExtractor
from .rules import extract_parameters as extract_parameters

__all__ = [
    "ExtractedFields",
    "Extractor",
    "LLMExtractor",
    "RuleBasedExtractor",
    "extract_parameters",
]
