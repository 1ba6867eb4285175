"""Options of the OpenAI provider and of OpenAI-compatible vendors, validated."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from lmbatch.provider import ConnectionOption, EndpointOption, ProviderSettings

__all__ = [
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "Endpoint",
    "OpenAICompatibleSettings",
    "OpenAISettings",
]

BASE_URL_ENV = "OPENAI_BASE_URL"
#: The vendor's API base URL, used when none is configured.
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: Variables the SDK reads for the organization and project headers.
ORGANIZATION_ENV = "OPENAI_ORG_ID"
PROJECT_ENV = "OPENAI_PROJECT_ID"
#: Endpoints lmbatch encodes and decodes.
Endpoint = Literal["/v1/responses", "/v1/chat/completions"]


class OpenAICompatibleSettings(ProviderSettings):
    """Options of a vendor that speaks the OpenAI Files + Batches protocol.

    A vendor's operations class declares its key variables, base URL and endpoints
    (:class:`~lmbatch_openai.OpenAICompatibleBatchOperations`); its settings class is
    derived from this one to match, so ``base_url`` and ``endpoint`` below follow them.

    Attributes:
        model: Model every request of a batch uses.
        api_key: API key; defaults to the provider's key variable (``api_key_env``).
            Never read from config files.
        base_url: API base URL (with ``/v1``); defaults to the provider's base-URL
            variable, else the vendor's. Config files may only set it when trusted
            (``LMBATCH_TRUST_CONFIG=1``).
        endpoint: The endpoint batches use: one of the provider's ``endpoints`` (the
            first by default).
        completion_window: The batch window; ``"24h"``.
        metadata: Extra batch-level metadata (at most 14 pairs: lmbatch uses two of the
            vendor's 16).
        output_expires_after: Seconds (3600..2592000) after which the output and error
            files expire, counted from their creation.
        delete_input_file: Delete the uploaded input file once every result was read.
        max_retries: SDK retries for reads (status, list, downloads). Uploads and batch
            creation are never retried.
        timeout: Seconds before one HTTP call times out.
    """

    model: str | None = None
    api_key: SecretStr | None = None
    # Connection options are recorded with each job and used again by later commands on
    # it; only the base URL scopes batch ids.
    base_url: Annotated[str | None, EndpointOption()] = None
    endpoint: Annotated[Endpoint, ConnectionOption()] = "/v1/responses"
    completion_window: Literal["24h"] = "24h"
    metadata: dict[str, str] = Field(default_factory=dict, max_length=14)
    output_expires_after: int | None = Field(default=None, ge=3600, le=2_592_000)
    delete_input_file: bool = True
    max_retries: int = Field(default=2, ge=0)
    timeout: float | None = Field(default=600.0, gt=0)

    @field_validator("metadata")
    @classmethod
    def _metadata_fits(cls, value: dict[str, str]) -> dict[str, str]:
        for key, item in value.items():
            if len(key) > 64 or len(item) > 512:
                raise ValueError("metadata keys are at most 64 characters, values at most 512")
            if key.startswith("lmbatch_"):
                raise ValueError(f"metadata key {key!r}: the lmbatch_ prefix is reserved")
        return value


class OpenAISettings(OpenAICompatibleSettings):
    """Options of the ``openai`` provider.

    Attributes:
        model: Model every request of a batch uses, e.g. ``"gpt-4.1-mini"``.
        api_key: API key; defaults to ``$OPENAI_API_KEY``. Never read from config files.
        base_url: API base URL (with ``/v1``); defaults to ``$OPENAI_BASE_URL``, else the
            vendor's. Config files may only set it when trusted (``LMBATCH_TRUST_CONFIG=1``).
        organization: ``OpenAI-Organization`` header; defaults to ``$OPENAI_ORG_ID``.
        project: ``OpenAI-Project`` header; defaults to ``$OPENAI_PROJECT_ID``.
        endpoint: ``/v1/responses`` (default) or ``/v1/chat/completions``.
        completion_window: The batch window; the vendor only offers ``"24h"``.
        metadata: Extra batch-level metadata (at most 14 pairs: lmbatch uses two of the
            vendor's 16).
        output_expires_after: Seconds (3600..2592000) after which the output and error
            files expire, counted from their creation.
        delete_input_file: Delete the uploaded input file once every result was read.
        max_retries: SDK retries for reads (status, list, downloads). Uploads and batch
            creation are never retried.
        timeout: Seconds before one HTTP call times out.
    """

    # Only the base URL scopes batch ids (OpenAI's ids are unique across accounts).
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    organization: Annotated[str | None, ConnectionOption(env_var=ORGANIZATION_ENV)] = None
    project: Annotated[str | None, ConnectionOption(env_var=PROJECT_ENV)] = None
