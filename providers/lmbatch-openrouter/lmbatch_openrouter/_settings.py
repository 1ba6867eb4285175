"""Options of the ``openrouter`` provider."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from lmbatch.provider import ConnectionOption, EndpointOption, ProviderSettings

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "BATCH_ENDPOINTS",
    "DEFAULT_BASE_URL",
    "ENCODED_ENDPOINT",
    "OpenRouterSettings",
]

API_KEY_ENV = "OPENROUTER_API_KEY"
BASE_URL_ENV = "OPENROUTER_BASE_URL"
#: The API root the official SDKs use; batch paths are ``/batches...`` under it.
DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"
#: Every endpoint an OpenRouter batch may run against (one per batch).
BATCH_ENDPOINTS = ("/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings")
#: The one lmbatch encodes: every model OpenRouter routes answers on it.
ENCODED_ENDPOINT = "/v1/chat/completions"
_WHY_NOT = {
    "/v1/responses": "every model is reachable through /v1/chat/completions",
    "/v1/messages": "every model is reachable through /v1/chat/completions",
    "/v1/embeddings": "lmbatch outputs are generations, not vectors",
}


class OpenRouterSettings(ProviderSettings):
    """Options of the ``openrouter`` provider.

    Attributes:
        model: The model of the whole batch, e.g. ``"openai/gpt-4.1-mini"`` (OpenRouter
            runs one model per batch).
        api_key: API key; defaults to ``$OPENROUTER_API_KEY``. Never read from config files.
        base_url: API root (with ``/api/v1``); defaults to ``$OPENROUTER_BASE_URL``, else
            ``https://openrouter.ai/api/v1``. Config files may only set it when trusted.
        endpoint: The batch endpoint. OpenRouter offers ``/v1/chat/completions``,
            ``/v1/responses``, ``/v1/messages`` and ``/v1/embeddings``; lmbatch encodes
            ``/v1/chat/completions`` (the others are refused with the reason).
        providers: Upstream providers the batch may run on (``provider.only``), e.g.
            ``["openai"]``; empty: OpenRouter chooses.
        allow_fallbacks: ``provider.allow_fallbacks``: whether OpenRouter may use other
            providers than ``providers`` (None: OpenRouter's default).
        app_url: ``HTTP-Referer`` header (your app, for OpenRouter's rankings).
        app_title: ``X-OpenRouter-Title`` header.
        max_retries: Retries of reads (status, list, results) on 429/5xx and lost
            connections. The create call is never retried.
        timeout: Seconds before one HTTP call times out.
        list_page_size: Batches per list page (1..100).
    """

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    endpoint: Annotated[
        Literal["/v1/chat/completions", "/v1/responses", "/v1/messages", "/v1/embeddings"],
        ConnectionOption(),
    ] = "/v1/chat/completions"
    providers: list[str] = Field(default_factory=list)
    allow_fallbacks: bool | None = None
    app_url: str | None = None
    app_title: str | None = None
    max_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=600.0, gt=0)
    list_page_size: int = Field(default=100, ge=1, le=100)

    @field_validator("endpoint")
    @classmethod
    def _encoded(cls, value: str) -> str:
        if value != ENCODED_ENDPOINT:
            raise ValueError(
                f"lmbatch encodes OpenRouter batches for {ENCODED_ENDPOINT} only, not "
                f"{value} ({_WHY_NOT[value]})"
            )
        return value
