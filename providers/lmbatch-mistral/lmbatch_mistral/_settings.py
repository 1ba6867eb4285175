"""Options of the ``mistral`` provider."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from lmbatch.provider import EndpointOption, ProviderSettings

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "DEFAULT_BASE_URL", "MistralSettings"]

API_KEY_ENV = "MISTRAL_API_KEY"
BASE_URL_ENV = "MISTRAL_BASE_URL"
#: The SDK's server URL (paths carry ``/v1`` themselves).
DEFAULT_BASE_URL = "https://api.mistral.ai"


class MistralSettings(ProviderSettings):
    """Options of the ``mistral`` provider.

    Attributes:
        model: The model of every request, e.g. ``"mistral-small-latest"``.
        api_key: API key; defaults to ``$MISTRAL_API_KEY``. Never read from config files.
        base_url: The SDK's server URL (without ``/v1``); defaults to ``$MISTRAL_BASE_URL``,
            else ``https://api.mistral.ai``. Config files may only set it when trusted.
        input: ``"file"`` (default): each batch's JSONL is uploaded (purpose ``batch``) and
            named in ``input_files``; ``"inline"``: the requests travel in the create
            call's ``requests`` (no upload; for small batches).
        timeout_hours: Hours Mistral may take before the job ends as
            ``TIMEOUT_EXCEEDED`` (the vendor's default is 24).
        metadata: Extra job metadata (string pairs; ``lmbatch_`` keys are reserved).
        delete_input_file: Delete the uploaded input file once every result was read.
        timeout: Seconds before one HTTP call times out.
        list_page_size: Jobs per list page.
    """

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    input: Literal["file", "inline"] = "file"
    timeout_hours: int = Field(default=24, ge=1)
    metadata: dict[str, str] = Field(default_factory=dict)
    delete_input_file: bool = True
    timeout: float = Field(default=600.0, gt=0)
    list_page_size: int = Field(default=100, ge=1, le=1000)

    @field_validator("metadata")
    @classmethod
    def _unreserved(cls, value: dict[str, str]) -> dict[str, str]:
        reserved = sorted(key for key in value if key.startswith("lmbatch_"))
        if reserved:
            raise ValueError(f"metadata keys {reserved}: the lmbatch_ prefix is reserved")
        return value
