"""``OpenAICompatibleServerBatchOperations``: the OpenAI batch protocol on any server.

Nothing is vendor-specific: the server (``base_url``), the variable holding its key
(``api_key_env``), its limits, endpoints and completion window are options, so one
installed provider serves any number of servers, each a named instance in
``lmbatch.toml`` (``[providers.nebius] type = "openai-compatible"``). Everything else is
:class:`~lmbatch_openai.OpenAICompatibleBatchOperations`.

Such servers may not keep batch metadata, so an interrupted create is found by its
results' request ids (not by the metadata OpenAI keeps).
"""

from __future__ import annotations

import os
from typing import Annotated, Any, ClassVar, Literal

from lmbatch_openai import OpenAICompatibleBatchOperations, OpenAICompatibleSettings
from pydantic import Field, model_validator

from lmbatch.provider import (
    ConnectionOption,
    EndpointOption,
    MissingCredentialsError,
    ProviderLimits,
    ProviderSettings,
)

__all__ = ["OpenAICompatibleServerBatchOperations", "OpenAICompatibleServerSettings"]

Endpoint = Literal["/v1/chat/completions", "/v1/responses"]
#: What a server that takes no key is sent (the SDK needs some key).
NO_KEY = "unused"


class OpenAICompatibleServerSettings(OpenAICompatibleSettings):
    """Options of the ``openai-compatible`` provider.

    Attributes:
        base_url: The server's API root, with ``/v1`` (required). Config files may only
            set it when trusted (``LMBATCH_TRUST_CONFIG=1``).
        api_key: The key; defaults to the variable ``api_key_env`` names.
        api_key_env: The environment variable holding the server's key; ``""``: the
            server takes no key.
        endpoint: The endpoint batches use; one of ``endpoints``.
        endpoints: The endpoints the server batches.
        completion_window: The window the server takes (sent as is).
        max_requests_per_batch: Most requests the server takes in one batch.
        max_bytes_per_batch: Most bytes of input the server takes in one batch.
    """

    base_url: Annotated[str, EndpointOption()]
    api_key_env: Annotated[str, ConnectionOption()] = "OPENAI_COMPATIBLE_API_KEY"
    endpoint: Annotated[Endpoint, ConnectionOption()] = "/v1/chat/completions"
    endpoints: tuple[Endpoint, ...] = ("/v1/chat/completions",)
    completion_window: str = "24h"  # type: ignore[assignment]
    max_requests_per_batch: int = Field(default=50_000, ge=1)
    max_bytes_per_batch: int = Field(default=200 * 1024 * 1024, ge=1)

    @model_validator(mode="after")
    def _endpoint_offered(self) -> OpenAICompatibleServerSettings:
        if self.endpoint not in self.endpoints:
            raise ValueError(
                f"endpoint {self.endpoint!r} is not among the server's endpoints "
                f"{list(self.endpoints)}"
            )
        return self


class OpenAICompatibleServerBatchOperations(OpenAICompatibleBatchOperations):
    """Batches on any OpenAI-compatible server (provider name ``openai-compatible``).

    Options are those of :class:`OpenAICompatibleServerSettings`; ``base_url`` is
    required.
    """

    name = "openai-compatible"
    settings_class: ClassVar[type[ProviderSettings]] = OpenAICompatibleServerSettings
    #: Chat completions first: what such servers batch most.
    endpoints: ClassVar[tuple[str, ...]] = ("/v1/chat/completions", "/v1/responses")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.settings, OpenAICompatibleServerSettings)
        self.server: OpenAICompatibleServerSettings = self.settings
        self.limits = ProviderLimits(
            max_requests_per_batch=self.server.max_requests_per_batch,
            max_bytes_per_batch=self.server.max_bytes_per_batch,
        )

    def api_key(self) -> str:
        """The key: the option, else ``$<api_key_env>``; a placeholder when none is needed.

        Raises:
            MissingCredentialsError: ``api_key_env`` names a variable that is not set.
        """
        option = self.server.api_key
        if option is not None and option.get_secret_value():
            return option.get_secret_value()
        env_var = self.server.api_key_env
        if not env_var:
            return NO_KEY
        if os.environ.get(env_var):
            return os.environ[env_var]
        raise MissingCredentialsError(
            f"the openai-compatible provider at {self.server.base_url} needs an API key: "
            f"set {env_var} in the environment (or choose the variable with "
            'api_key_env = "...", or api_key_env = "" for a server that takes none)',
            env_var=env_var,
        )

    def check_ready(self) -> None:
        self.api_key()  # the key variable is an option here, not a declaration
        super().check_ready()
