"""``OpenAICompatibleBatchOperations``: the OpenAI batch protocol on any server.

Nothing is vendor-specific: the server (``base_url``), the variable holding its key
(``api_key_env``), its limits, endpoints and completion window are options, so one
installed provider serves any number of servers, each a named instance in
``lmbatch.toml`` (``[providers.nebius] type = "openai-compatible"``).

Such servers may not keep batch metadata, so an interrupted create is found by its
results' request ids (not by the metadata OpenAI keeps).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, ClassVar, Literal

from lmbatch_openai import OpenAIBatchOperations, OpenAISettings
from pydantic import Field, model_validator

from lmbatch.provider import (
    BatchInfo,
    BatchPage,
    ConnectionOption,
    EndpointOption,
    Hyperparameters,
    Message,
    MissingCredentialsError,
    PreparedBatch,
    ProviderError,
    ProviderLimits,
    ResultRecord,
)

__all__ = ["OpenAICompatibleBatchOperations", "OpenAICompatibleSettings"]

Endpoint = Literal["/v1/responses", "/v1/chat/completions"]
#: What a server that asks for no key is sent (the SDK needs some key).
NO_KEY = "unused"


class OpenAICompatibleSettings(OpenAISettings):
    """Options of the ``openai-compatible`` provider.

    Attributes:
        base_url: The server's API root, with ``/v1`` (required). Config files may only
            set it when trusted (``LMBATCH_TRUST_CONFIG=1``).
        api_key: The key; defaults to the variable ``api_key_env`` names.
        api_key_env: The environment variable holding the server's key; ``""``: the
            server takes no key.
        organization: Not used.
        project: Not used.
        endpoint: The endpoint batches use; one of ``endpoints``.
        endpoints: The endpoints the server batches.
        completion_window: The window the server takes (sent as is).
        max_requests_per_batch: Most requests the server takes in one batch.
        max_bytes_per_batch: Most bytes of input the server takes in one batch.
        counts_tokens: The server has ``POST /v1/responses/input_tokens``.
    """

    base_url: Annotated[str, EndpointOption()]
    api_key_env: Annotated[str, ConnectionOption()] = "OPENAI_COMPATIBLE_API_KEY"
    organization: Annotated[str | None, ConnectionOption()] = None
    project: Annotated[str | None, ConnectionOption()] = None
    endpoint: Annotated[Endpoint, ConnectionOption()] = "/v1/chat/completions"
    endpoints: tuple[Endpoint, ...] = ("/v1/chat/completions",)
    completion_window: str = "24h"  # type: ignore[assignment]
    max_requests_per_batch: int = Field(default=50_000, ge=1)
    max_bytes_per_batch: int = Field(default=200 * 1024 * 1024, ge=1)
    counts_tokens: bool = False

    @model_validator(mode="after")
    def _endpoint_offered(self) -> OpenAICompatibleSettings:
        if self.endpoint not in self.endpoints:
            raise ValueError(
                f"endpoint {self.endpoint!r} is not among the server's endpoints "
                f"{list(self.endpoints)}"
            )
        return self

    def resolved_api_key(self) -> str:
        """The key: the option, else ``$<api_key_env>``; a placeholder when none is needed.

        Raises:
            MissingCredentialsError: ``api_key_env`` names a variable that is not set.
        """
        if self.api_key is not None and self.api_key.get_secret_value():
            return self.api_key.get_secret_value()
        if not self.api_key_env:
            return NO_KEY
        from_env = os.environ.get(self.api_key_env)
        if from_env:
            return from_env
        raise MissingCredentialsError(
            f"the openai-compatible provider at {self.base_url} needs an API key: set "
            f"{self.api_key_env} in the environment (or choose the variable with "
            'api_key_env = "...", or api_key_env = "" for a server that takes none)',
            env_var=self.api_key_env,
        )

    def resolved_base_url(self) -> str:
        """The configured base URL."""
        return self.base_url


class OpenAICompatibleBatchOperations(OpenAIBatchOperations):
    """Batches on any OpenAI-compatible server (provider name ``openai-compatible``).

    Options are those of :class:`OpenAICompatibleSettings`; ``base_url`` is required.
    """

    name = "openai-compatible"
    # A required base_url changes the settings' signature: still an OpenAISettings.
    settings_class = OpenAICompatibleSettings  # type: ignore[assignment]
    stamps_batch_metadata = False
    checks_model_names: ClassVar[bool] = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert isinstance(self.settings, OpenAICompatibleSettings)
        self.server: OpenAICompatibleSettings = self.settings
        self.limits = ProviderLimits(
            max_requests_per_batch=self.server.max_requests_per_batch,
            max_bytes_per_batch=self.server.max_bytes_per_batch,
        )

    async def count_input_tokens(
        self, messages: list[Message], params: Hyperparameters
    ) -> int | None:
        if not self.server.counts_tokens:
            return None
        with self._named():
            return await super().count_input_tokens(messages, params)

    # ------------------------------------------ the OpenAI provider's code, renamed

    @contextmanager
    def _named(self) -> Iterator[None]:
        """Errors of the OpenAI provider's code name this provider."""
        try:
            yield
        except ProviderError as exc:
            exc.provider = self.name
            raise

    async def submit_batch(self, batch: PreparedBatch) -> str:
        with self._named():
            return await super().submit_batch(batch)

    async def fetch_batch(self, batch_id: str) -> BatchInfo:
        with self._named():
            info = await super().fetch_batch(batch_id)
        info["provider"] = self.name
        return info

    async def list_batches_page(self, cursor: str | None) -> BatchPage:
        with self._named():
            page = await super().list_batches_page(cursor)
        for info in page.batches:
            info["provider"] = self.name
        return page

    async def iter_result_records(
        self, info: BatchInfo, context: dict[str, Any]
    ) -> AsyncIterator[ResultRecord]:
        with self._named():
            async for record in super().iter_result_records(info, context):
                error = record.output.error
                if error is not None:
                    record.output.error = error.model_copy(update={"provider": self.name})
                yield record

    async def cancel_batch(self, batch_id: str) -> None:
        with self._named():
            await super().cancel_batch(batch_id)
