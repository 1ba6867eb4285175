"""Options of the ``anthropic`` provider."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from lmbatch.provider import EndpointOption, ProviderSettings

__all__ = ["BASE_URL_ENV", "DEFAULT_BASE_URL", "DEFAULT_MAX_TOKENS", "AnthropicSettings"]

BASE_URL_ENV = "ANTHROPIC_BASE_URL"
#: The vendor's API root, used when none is configured.
DEFAULT_BASE_URL = "https://api.anthropic.com"

#: ``max_tokens`` sent when the caller gives none. Anthropic requires the field on every
#: request; 4096 fits every current model's output limit and most answers.
DEFAULT_MAX_TOKENS = 4096


class AnthropicSettings(ProviderSettings):
    """Options of the ``anthropic`` provider.

    Attributes:
        model: The model every request of a batch uses (required to create batches).
        api_key: API key; defaults to ``$ANTHROPIC_API_KEY`` when the client is built.
            Never read from config files.
        base_url: API root; defaults to ``$ANTHROPIC_BASE_URL``, then the SDK default.
            Config files may only set it when trusted (``LMBATCH_TRUST_CONFIG=1``).
        default_max_tokens: ``max_tokens`` used when the hyperparameters give none,
            because Anthropic requires one on every request (default 4096).
        betas: Beta feature names sent in the ``anthropic-beta`` header of the create
            call (the Message Batches API itself is GA and needs none).
        max_retries: SDK retries of idempotent calls (status, list, results, cancel).
            The create call is never retried: see ``submit_batch``.
        timeout: Seconds before one HTTP call times out.
        structured_output: How ``response_schema`` is sent. ``"tool"``: a forced tool
            whose input is the structured output (works on every model). ``"native"``:
            ``output_config.format`` (JSON-schema structured outputs, newer models only).
            ``"auto"`` (default): ``"tool"``, except when extended thinking is on, which
            the API forbids together with a forced tool, so ``"native"``.
        list_page_size: Batches per page when listing (1..1000).
    """

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    default_max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    betas: list[str] = Field(default_factory=list)
    max_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=600.0, gt=0)
    structured_output: Literal["auto", "tool", "native"] = "auto"
    list_page_size: int = Field(default=100, ge=1, le=1000)
