"""Options of the ``together`` provider."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr

from lmbatch.provider import EndpointOption, ProviderSettings

__all__ = ["API_KEY_ENV", "BASE_URL_ENV", "DEFAULT_BASE_URL", "TogetherSettings"]

API_KEY_ENV = "TOGETHER_API_KEY"
BASE_URL_ENV = "TOGETHER_BASE_URL"
#: The ``together`` SDK's default API root (its paths start with ``/v1``).
DEFAULT_BASE_URL = "https://api.together.ai"


class TogetherSettings(ProviderSettings):
    """Options of the ``together`` provider.

    Attributes:
        model: Model every request of a batch uses (also sent as the batch's ``model_id``).
        api_key: API key; defaults to ``$TOGETHER_API_KEY``. Never read from config files.
        base_url: API root, as the ``together`` SDK means it (without ``/v1``); defaults
            to ``$TOGETHER_BASE_URL``, else the vendor's. Config files may only set it
            when trusted (``LMBATCH_TRUST_CONFIG=1``).
        endpoint: The batch endpoint; lmbatch encodes chat completions only.
        priority: The batch's ``priority`` (the vendor's scheduling hint); not sent when
            unset.
        delete_input_file: Delete the uploaded input file once every result was read.
        max_retries: SDK retries for reads and the upload. Batch creation is never retried.
        timeout: Seconds before one HTTP call times out.
    """

    model: str | None = None
    api_key: SecretStr | None = None
    base_url: Annotated[
        str | None, EndpointOption(env_var=BASE_URL_ENV, default=DEFAULT_BASE_URL)
    ] = None
    endpoint: Literal["/v1/chat/completions"] = "/v1/chat/completions"
    priority: int | None = None
    delete_input_file: bool = True
    max_retries: int = Field(default=2, ge=0)
    timeout: float = Field(default=600.0, gt=0)
