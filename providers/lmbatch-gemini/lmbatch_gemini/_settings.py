"""Options of the ``gemini`` provider."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from lmbatch.provider import ConnectionOption, EndpointOption, ProviderSettings

__all__ = [
    "API_KEY_ENVS",
    "BASE_URL_ENV",
    "DEFAULT_API_VERSION",
    "DEFAULT_BASE_URL",
    "GeminiSettings",
    "Mode",
    "check_root",
]

#: Where the API key is read from, in this order: the google-genai SDK's order (it takes
#: ``GOOGLE_API_KEY`` when both are set, and says so).
API_KEY_ENVS = ("GOOGLE_API_KEY", "GEMINI_API_KEY")
#: The variable the google-genai SDK reads the Developer API root from.
BASE_URL_ENV = "GOOGLE_GEMINI_BASE_URL"
#: The Gemini Developer API root, without a version (what the SDK calls its base URL).
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
#: The version the google-genai SDK (3.x) talks to the Developer API by default.
DEFAULT_API_VERSION: Literal["v1"] = "v1"

Mode = Literal["auto", "inline", "file"]

_VERSIONED = re.compile(r"/v1(beta\d*|alpha)?/?$")


class GeminiSettings(ProviderSettings):
    """Options of the ``gemini`` provider.

    Attributes:
        model: The model every request of a batch uses, e.g. ``"gemini-2.5-flash"``
            (a ``models/`` prefix is dropped; ``tunedModels/...`` names are sent as they
            are, with ``allow_unknown_model=True``).
        api_key: API key; defaults to ``$GOOGLE_API_KEY``, else ``$GEMINI_API_KEY`` (the
            google-genai SDK's order). Sent as the ``x-goog-api-key`` header. Never read
            from config files.
        base_url: The API root without a version, as the google-genai SDK means it;
            defaults to ``$GOOGLE_GEMINI_BASE_URL``, else
            ``https://generativelanguage.googleapis.com``. Config files may only set it
            when trusted (``LMBATCH_TRUST_CONFIG=1``).
        api_version: ``"v1"`` (the SDK's default) or ``"v1beta"``.
        mode: How requests reach Gemini. ``"auto"`` (default): inline in the create call
            when the whole body stays under 20 MB, else a JSONL file uploaded through the
            Files API. ``"inline"``: always inline (batches are split to stay under
            20 MB). ``"file"``: always a file (batches up to 2 GB).
        display_name: The start of every batch's ``displayName``; lmbatch appends the
            job id and chunk, which is how an interrupted create is found again.
        structured_output: How ``response_schema`` is sent: ``"json_schema"`` (default)
            as ``generationConfig.responseJsonSchema`` (JSON Schema, as given);
            ``"schema"`` as ``generationConfig.responseSchema`` (Gemini's OpenAPI subset:
            references are inlined, unsupported keywords dropped), for models that do
            not take JSON Schema.
        delete_input_file: Delete the uploaded input file once every result was read.
        max_retries: Retries of calls that cannot create anything (status, list,
            downloads, cancel, uploads of input chunks) after a 429, a 5xx or a lost
            connection. The create call is never retried.
        timeout: Seconds before one HTTP call times out.
        list_page_size: Batches per page when listing.
        max_batches_in_flight: Gemini runs at most 100 batches per project at a time:
            a job keeps at most this many running (default 100).
    """

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    api_version: Annotated[Literal["v1", "v1beta"], ConnectionOption()] = DEFAULT_API_VERSION
    mode: Mode = "auto"
    display_name: str = Field(default="lmbatch", max_length=64)
    structured_output: Literal["json_schema", "schema"] = "json_schema"
    delete_input_file: bool = True
    max_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=600.0, gt=0)
    list_page_size: int = Field(default=100, ge=1, le=1000)
    max_batches_in_flight: int | None = Field(default=100, ge=1)

    @field_validator("model")
    @classmethod
    def _bare_model(cls, value: str | None) -> str | None:
        # "models/gemini-2.5-flash" (the SDK's resource name) is the model the price list
        # and every message call "gemini-2.5-flash"; the URL gets the prefix back.
        return value.removeprefix("models/") if value is not None else None

    @field_validator("base_url")
    @classmethod
    def _root_without_version(cls, value: str | None) -> str | None:
        if value is not None:
            check_root(value)
        return value


def check_root(url: str) -> str:
    """``url`` without a trailing slash, refused if it ends with a version.

    The SDK's meaning: the root is the API without a version; one in it would be sent
    twice (``/v1beta/v1/...``).

    Raises:
        ValueError: The URL ends with ``/v1``, ``/v1beta``...
    """
    if _VERSIONED.search(url):
        raise ValueError(
            "base_url is the API root without a version (as for the google-genai SDK), "
            "e.g. https://generativelanguage.googleapis.com; choose the version with "
            "api_version"
        )
    return url.rstrip("/")
