"""Settings of the season service (environment prefix `SEASON_`) and the choice of
parameter extractor they imply: offline rules by default, an LLM when configured."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from conveyor.errors import ConfigurationError

from .extraction import Extractor, LLMExtractor, RuleBasedExtractor


class SeasonSettings(BaseSettings):
    """How the season service runs.

    `SEASON_LLM_BASE_URL` (with `SEASON_LLM_MODEL`, and `SEASON_LLM_API_KEY` when the
    endpoint needs one) switches parameter extraction to an OpenAI-compatible chat
    API; without it the deterministic offline extractor is used.
    """

    model_config = SettingsConfigDict(env_prefix="SEASON_", extra="ignore")

    llm_base_url: str = ""
    llm_api_key: SecretStr = SecretStr("")
    llm_model: str = ""
    llm_timeout_s: float = Field(30.0, gt=0)
    demand_timeout_s: float = Field(30.0, gt=0, description="Demand agent timeout.")
    inventory_timeout_s: float = Field(10.0, gt=0)
    sync_wait_s: float = Field(
        60.0,
        gt=0,
        description="How long POST run-workflow waits for the plan before answering "
        "202 with the run id instead.",
    )

    @property
    def uses_llm(self) -> bool:
        """Whether an LLM endpoint is configured."""
        return bool(self.llm_base_url.strip())


def make_extractor(settings: SeasonSettings) -> Extractor:
    """The extractor `settings` ask for.

    Raises:
        ConfigurationError: an LLM base URL is set without a model name.
    """
    if not settings.uses_llm:
        return RuleBasedExtractor()
    if not settings.llm_model.strip():
        raise ConfigurationError(
            "SEASON_LLM_BASE_URL is set but SEASON_LLM_MODEL is not: name the model"
        )
    return LLMExtractor(
        settings.llm_base_url.strip(),
        settings.llm_api_key.get_secret_value(),
        settings.llm_model.strip(),
        timeout_s=settings.llm_timeout_s,
    )


def extractor_kind(extractor: Extractor) -> str:
    """A short name of the extractor for API answers: `rules`, `llm` or the class."""
    if isinstance(extractor, RuleBasedExtractor):
        return "rules"
    if isinstance(extractor, LLMExtractor):
        return "llm"
    return type(extractor).__name__
