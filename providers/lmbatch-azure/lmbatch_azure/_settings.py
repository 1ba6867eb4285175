"""Options of the ``azure`` provider."""

from __future__ import annotations

import importlib.util
import os
from typing import Annotated, Literal

from lmbatch_openai import OpenAICompatibleSettings
from pydantic import Field

from lmbatch.provider import ConfigError, ConnectionOption, EndpointOption

__all__ = ["API_KEY_ENV", "ENDPOINT_ENV", "AzureSettings", "entra_available"]

API_KEY_ENV = "AZURE_OPENAI_API_KEY"
ENDPOINT_ENV = "AZURE_OPENAI_ENDPOINT"
#: The smallest and largest ``expires_after`` Azure takes on a batch file (14 and 30 days).
FILE_EXPIRY_RANGE = (1_209_600, 2_592_000)


def entra_available() -> bool:
    """Whether ``azure-identity`` is installed (for Entra ID tokens)."""
    try:
        return importlib.util.find_spec("azure.identity") is not None
    except ImportError:  # no "azure" namespace at all
        return False


class AzureSettings(OpenAICompatibleSettings):
    """Options of the ``azure`` provider.

    Attributes:
        model: The model behind the deployment (e.g. ``"gpt-4.1-mini"``), for prices and
            name checks; also the deployment when ``deployment`` is not set.
        deployment: The batch deployment every request goes to: each input line's
            ``model``, the same on every line.
        api_key: API key; defaults to ``$AZURE_OPENAI_API_KEY``. Without one, a Microsoft
            Entra ID token is used when ``azure-identity`` is installed. Never read from
            config files.
        endpoint: The resource endpoint, ``https://<resource>.openai.azure.com``; defaults
            to ``$AZURE_OPENAI_ENDPOINT``. Config files may only set it when trusted
            (``LMBATCH_TRUST_CONFIG=1``).
        api_version: Unset: the GA ``/openai/v1/`` API. A version (``"2024-10-21"``): the
            classic ``/openai/...?api-version=`` API.
        base_url: The full API base URL, instead of the one derived from ``endpoint``.
        batch_endpoint: ``/v1/chat/completions`` (default) or ``/v1/responses`` (sent as
            ``/chat/completions``, ``/responses`` on the classic API).
        completion_window: ``"24h"``, the only window Azure takes (it does not expire
            batches that take longer).
        input_file_expires_after: Seconds (14 to 30 days) after which an uploaded input
            file expires: set on every upload, so the resource may keep 10,000 batch
            files instead of 500.
    """

    deployment: Annotated[str | None, ConnectionOption()] = None
    endpoint: Annotated[str | None, EndpointOption(env_var=ENDPOINT_ENV)] = None  # type: ignore[assignment]
    api_version: Annotated[str | None, ConnectionOption()] = None
    base_url: Annotated[str | None, EndpointOption()] = None
    batch_endpoint: Annotated[
        Literal["/v1/chat/completions", "/v1/responses"], ConnectionOption()
    ] = "/v1/chat/completions"
    input_file_expires_after: int = Field(
        default=FILE_EXPIRY_RANGE[0], ge=FILE_EXPIRY_RANGE[0], le=FILE_EXPIRY_RANGE[1]
    )

    def resource_endpoint(self) -> str:
        """The resource endpoint (option, else ``$AZURE_OPENAI_ENDPOINT``), no trailing ``/``.

        Raises:
            ConfigError: Neither is set.
        """
        endpoint = self.endpoint or os.environ.get(ENDPOINT_ENV)
        if not endpoint:
            raise ConfigError(
                f"the azure provider needs the resource endpoint: set {ENDPOINT_ENV} "
                "(https://<resource>.openai.azure.com), or pass endpoint=..."
            )
        return endpoint.rstrip("/")

    def api_base_url(self) -> str:
        """The API base URL: ``base_url``, else the endpoint's GA or classic API root."""
        if self.base_url:
            return self.base_url
        root = self.resource_endpoint() + "/openai"
        return root if self.api_version else root + "/v1/"
